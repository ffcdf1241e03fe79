"""Checkpoints that load with ``torch.load(weights_only=True)``.

RecBole pickles its Config object into every checkpoint, which torch >= 2.6 refuses to load
by default, and loading arbitrary pickles is code execution. We store only tensors and plain
Python data (dicts, lists, numbers, strings), write atomically, and refuse anything else.
"""

from __future__ import annotations

import enum
import hashlib
import os
import pickle
import random

import numpy as np
import torch

from recbole_maskgr.files import WriteFailed, atomic_save, is_placeholder


CHECKPOINT_FORMAT = "recbole_maskgr/1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot or must not be loaded; the message says why and what to do."""


def to_plain(value):
    """Turn config values into data the weights-only unpickler accepts."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return str(value)


def safe_load(path: str, map_location="cpu") -> dict:
    """Load a checkpoint without unpickling code; refuse foreign or tampered files clearly."""
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint not found: '{path}'.")
    if is_placeholder(path):
        raise CheckpointError(
            f"Checkpoint '{path}' is empty: the run that claimed this name stopped before its first save. "
            "Resume from its '-last.pth' file if there is one, or train anew."
        )
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # neither torch's zip format nor a pickle stream
        raise CheckpointError(
            f"'{path}' is not a checkpoint: it is neither a torch file nor a pickle (it starts with {head!r}). "
            "Pass a file a run wrote, e.g. saved/<Model>-<time>-last.pth."
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"Refusing to load '{path}': it needs arbitrary objects unpickled, which can run code. "
            "recbole_maskgr only loads its own checkpoints (tensors and plain data). "
            "If you trust the file, re-save its state_dict with torch yourself."
        ) from err
    except Exception as err:  # torch's readers fail in many ways on a damaged file
        raise CheckpointError(f"Checkpoint '{path}' is unreadable (truncated or corrupt?): {err}") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"'{path}' is not a recbole_maskgr checkpoint (format {CHECKPOINT_FORMAT}).")
    return state


def write_checkpoint(state: dict, path: str) -> None:
    """Atomic write; a write the system refuses is one CheckpointError, and earlier files stay intact."""
    try:
        atomic_save(state, path)
    except WriteFailed as err:
        raise CheckpointError(
            f"Could not write checkpoint '{path}': {err.strerror}. Checkpoints written before are intact. Free "
            "disk space (or raise the file-size limit, `ulimit -f`), or set --checkpoint_dir to a folder with room."
        ) from None


def capture_rng_state() -> dict:
    """Every RNG that training touches, so a resumed run continues the same random stream."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": to_plain(random.getstate()),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# Settings that change the shape of a model's weights (ours and RecBole's sequential models).
SHAPE_SETTINGS = ("hidden_size", "embedding_size", "inner_size", "n_layers", "n_heads", "n_decoder_layers",
                  "history_tokens", "sid_levels", "sid_codebook_size", "MAX_ITEM_LIST_LENGTH")


def differing_settings(saved: dict, current: dict, keys=None) -> list[str]:
    """`key: <checkpoint's> there, <this run's> now` for each setting both name and that differs."""
    names = sorted(set(saved) & set(current)) if keys is None else [k for k in keys if k in saved and k in current]
    return [f"{k}: {saved[k]!r} there, {current[k]!r} now" for k in names if saved[k] != current[k]]


# ---------------------------------------------------------------- what a checkpoint must match
def data_fingerprint(config, model) -> dict:
    """What a checkpoint's weights are tied to: the dataset, its item count and its SID table."""
    fingerprint = {"dataset": str(config["dataset"]), "n_items": int(getattr(model, "n_items", -1))}
    item_sid = getattr(model, "item_sid", None)
    if isinstance(item_sid, torch.Tensor):
        digest = hashlib.sha256(item_sid.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        fingerprint["sid_sha256"] = digest[:16]
    return fingerprint


def check_fingerprint(saved: dict, current: dict, path: str) -> None:
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                f"Checkpoint '{path}' was trained on different data: {key} is {saved.get(key)!r} there "
                f"but {current.get(key)!r} now. Use the same dataset and SID settings, or train anew."
            )


def check_shapes(checkpoint: dict, own: dict, settings: dict, path: str) -> None:
    """Refuse weights of another model shape with the settings that differ, not a size-mismatch traceback."""
    saved = checkpoint["state_dict"]
    problems = [f"{name} is missing" for name in own if name not in saved]
    problems += [f"{name} is unexpected" for name in saved if name not in own]
    problems += [f"{name} is {tuple(saved[name].shape)} there, {tuple(own[name].shape)} here"
                 for name in own if name in saved and saved[name].shape != own[name].shape]
    if problems:
        recorded = checkpoint.get("config") or {}
        differ = differing_settings(recorded, settings, SHAPE_SETTINGS) or differing_settings(recorded, settings)
        raise CheckpointError(
            f"Checkpoint '{path}' does not fit this model ({problems[0]}"
            + (f"; {len(problems) - 1} more" if len(problems) > 1 else "") + "). Settings that differ: "
            + ("; ".join(differ) if differ else "none recorded") + ". Use the checkpoint's settings, or train anew."
        )


def check_resume_file(path: str, config) -> dict:
    """Refuse a --resume file before the dataset is built: pickles, foreign files, other model or dataset.

    The item count and SID table are compared later, once the dataset exists (`load_checkpoint`).
    """
    checkpoint = safe_load(path)
    trained = {
        "model": (checkpoint.get("config") or {}).get("model"),
        "dataset": (checkpoint.get("fingerprint") or {}).get("dataset"),
    }
    for key, saved in trained.items():
        if saved != config[key]:
            raise CheckpointError(
                f"Checkpoint '{path}' was trained with {key} {saved!r}, but this run uses {config[key]!r}. "
                f"Resume with --{key}={saved}, or train anew without --resume."
            )
    saved_settings = checkpoint.get("config") or {}
    current = {key: config[key] for key in SHAPE_SETTINGS if key in config and config[key] is not None}
    differ = differing_settings(saved_settings, current, SHAPE_SETTINGS)
    if differ:
        first = next(key for key in SHAPE_SETTINGS if key in saved_settings and key in current
                     and saved_settings[key] != current[key])
        raise CheckpointError(
            f"Checkpoint '{path}' has another model shape than this run ({'; '.join(differ)}). Resume with "
            f"the checkpoint's settings (e.g. --{first}={saved_settings[first]}), or train anew without --resume."
        )
    return checkpoint


# Set per process by the DDP launcher: a checkpoint must rebuild a one-process Config.
PROCESS_SETTINGS = ("local_rank", "world_size", "ip", "port", "nproc", "offset")


# Settings that choose where a run reads data or writes files (and the encoder it loads): a checkpoint's
# record of them is never used; a run takes them from its own settings (--resume, load_data_and_model).
LOCATION_SETTINGS = ("data_path", "checkpoint_dir", "sid_cache_dir", "sid_text_encoder", "dataset_save_path",
                     "dataloaders_save_path", "save_dataset", "save_dataloaders", "log_wandb", "wandb_project",
                     "config_files")


def recorded_locations(path: str) -> dict:
    """The LOCATION_SETTINGS a checkpoint records, for a caller that trusts the file (e.g. a benchmark
    reading its own runs) and passes them on explicitly: `load_data_and_model(path, recorded_locations(path))`."""
    return {k: v for k, v in safe_load(path)["config"].items() if k in LOCATION_SETTINGS}


def plain_config(config) -> dict:
    """The user-facing settings (files, dict, command line) that rebuild the same Config."""
    settings = to_plain({k: v for k, v in config.external_config_dict.items() if k not in PROCESS_SETTINGS})
    settings.update(model=config["model"], dataset=config["dataset"])
    return settings
