"""Cheap checks of a run's settings and of a `--resume` file, before any long work starts.

A bad SID or decoding setting would otherwise surface only after the item texts were embedded,
and a checkpoint of another model shape only as a size-mismatch traceback. The atomic files are
scanned in `atomic_files.py`.
"""

from __future__ import annotations

from recbole_maskgr.config import ConfigError, get_model
from recbole_maskgr.data.sid_settings import sid_config_value
from recbole_maskgr.trainer.checkpoint import SHAPE_SETTINGS, CheckpointError, differing_settings, safe_load


# ====================================================================== settings
def validate_inputs(config) -> list[str]:
    """Settings first (instant), then the atomic files; returns the warnings that were logged."""
    from recbole_maskgr.data.atomic_files import validate_atomic_files

    check_run_config(config)
    return validate_atomic_files(config)


def check_run_config(config) -> None:
    """ConfigError for settings that would fail (or silently mislead) only after long work."""
    check_checkpoint_interval(config)
    choice_setting("train_budget_clock", config["train_budget_clock"],
                   {"wall": "", "process": "this process's CPU seconds"}, "process")
    if not uses_sids(config):
        return
    check_sid_settings(config)
    get_model(config["model"]).check_config(config)  # the model's own rules, also run by its __init__


def uses_sids(config) -> bool:
    """Whether the model loads its data through the SID dataset hook (MaskGR, TIGER)."""
    dataset_class = getattr(get_model(config["model"]), "dataset_class", None)
    if not isinstance(dataset_class, type):
        return False
    from recbole_maskgr.data.dataset import SIDSequentialDataset

    return issubclass(dataset_class, SIDSequentialDataset)


def integer_setting(key: str, value, minimum: int, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{key} must be an integer >= {minimum} ({meaning}), got {value!r}. Fix it in your config "
            f"file or on the command line (--{key}=...)."
        )
    return value


def choice_setting(key: str, value, options: dict[str, str], example: str) -> None:
    """ConfigError unless `value` is one of `options` (name -> note shown beside it)."""
    if value in options:
        return
    names = " or ".join(f"'{name}'" + (f" ({note})" if note else "") for name, note in options.items())
    raise ConfigError(
        f"{key} must be {names}, got {value!r}. Fix it in your config file or on the command line "
        f"(--{key}={example})."
    )


def number_setting(key: str, value, ok, allowed: str, meaning: str) -> float:
    """ConfigError unless `value` is a number passing `ok` (its range written as `allowed`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
        raise ConfigError(
            f"{key} must be a number in {allowed} ({meaning}), got {value!r}. Fix it in your config file "
            f"or on the command line (--{key}=...)."
        )
    return float(value)


def sid_depth(config) -> int:
    """H: tokens per item (the k-means levels plus the de-duplication digit)."""
    levels = sid_config_value(config, "sid_levels")
    return integer_setting("sid_levels", levels, 1, "residual k-means levels per item") + 1


def check_sid_settings(config) -> None:
    sid_depth(config)
    size = sid_config_value(config, "sid_codebook_size")
    integer_setting("sid_codebook_size", size, 2, "codes per level; one code cannot tell items apart")
    choice_setting("sid_source", sid_config_value(config, "sid_source"),
            {"auto": "text where loaded, else collaborative", "text": "", "collaborative": "", "both": ""}, "auto")
    integer_setting("sid_collaborative_dim", sid_config_value(config, "sid_collaborative_dim"), 1,
             "size of the collaborative item vectors")


def check_checkpoint_interval(config) -> None:
    value = config["checkpoint_every_steps"]
    if value is None or value == 0:
        return  # off
    integer_setting("checkpoint_every_steps", value, 1, "optimizer steps between mid-epoch checkpoints; ~ = off")


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


__all__ = [
    "validate_inputs",
    "check_run_config",
    "check_resume_file",
]
