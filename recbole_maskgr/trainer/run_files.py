"""Where a run's checkpoints go: always derived from this run's configuration, never from a file.

A run writes two files under its own ``checkpoint_dir``: the best checkpoint (RecBole's
``saved_model_file``, ``<model>-<time>.pth``) and the rolling one beside it (``-last.pth``). A
checkpoint records where its run kept its best model, but that record only helps *find* the
previous best (by file name, next to the file being resumed); it never chooses where we write, so
a copied or tampered checkpoint cannot make a run overwrite files outside its ``checkpoint_dir``.
"""

from __future__ import annotations

import os

from recbole_maskgr.files import claim_name, is_placeholder, placeholder_marker
from recbole_maskgr.trainer.checkpoint import CheckpointError


def last_checkpoint_path(best_path: str) -> str:
    """`saved/MaskGR-x.pth` -> `saved/MaskGR-x-last.pth`: the rolling checkpoint lives beside the best."""
    stem, ext = os.path.splitext(str(best_path))
    return f"{stem}-last{ext or '.pth'}"


def claim_checkpoint_name(path: str) -> str:
    """This run's best-checkpoint path: `path`, or `<stem>-2.pth`, `-3`, ... when another run has it.

    RecBole names checkpoints by model and second, so two runs started in the same second would
    share a name. The name is claimed atomically with a placeholder naming this process, which the
    first save replaces (or the next start sweeps, if this process is killed before it); a name whose
    best or rolling file exists belongs to another run.
    """
    return claim_name(path, taken=lambda candidate: os.path.exists(last_checkpoint_path(candidate)),
                      content=placeholder_marker())


def release_claim(path: str | None) -> None:
    """Remove a claimed name's placeholder (the run stopped before its first save); a checkpoint stays."""
    try:
        if path and is_placeholder(path):
            os.remove(path)
    except OSError:
        pass  # never claimed, or already gone


def previous_best_file(checkpoint: dict, resume_file: str) -> str | None:
    """The best checkpoint of the run being resumed: the file of the recorded name beside `resume_file`.

    Only the recorded *name* is used, looked up in the folder the user pointed at; None when that
    run had no validation result yet (its best appears at the first improvement).
    """
    if checkpoint.get("best_valid_result") is None:
        return None
    recorded = str(checkpoint.get("best_model_file") or resume_file)
    beside = os.path.join(os.path.dirname(os.path.abspath(resume_file)), os.path.basename(recorded))
    if os.path.isfile(beside):
        return beside
    raise CheckpointError(
        f"'{resume_file}' belongs to a run whose best model is '{os.path.basename(recorded)}', which is not "
        f"next to it; the final test needs it. Put that file beside '{resume_file}', or resume from the "
        "best checkpoint itself."
    )
