"""Cheap checks of a run's settings and of a `--resume` file, before any long work starts.

A bad SID or decoding setting would otherwise surface only after the item texts were embedded,
and a checkpoint of another model shape only as a size-mismatch traceback. The atomic files are
scanned in `atomic_files.py`.
"""

from __future__ import annotations

import yaml

from recbole_maskgr.config import ConfigError, get_model, resource_dir
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
    if not uses_sids(config):
        return
    check_sid_settings(config)
    defaults = model_defaults(config["model"])
    if "beam_width" in defaults:
        check_beam_width(config)
    if "decode_steps" in defaults:
        check_decode_steps(config)
    if {"mask_t_min", "target_mask_prob", "item_mask_prob", "clean_history_share"} & defaults:
        check_diffusion_settings(config)


def uses_sids(config) -> bool:
    """Whether the model loads its data through the SID dataset hook (MaskGR, TIGER)."""
    dataset_class = getattr(get_model(config["model"]), "dataset_class", None)
    if not isinstance(dataset_class, type):
        return False
    from recbole_maskgr.data.dataset import SIDSequentialDataset

    return issubclass(dataset_class, SIDSequentialDataset)


def model_defaults(model_name: str) -> set[str]:
    """Keys of `properties/model/<model>.yaml`: the settings this model actually reads."""
    path = resource_dir("properties") / "model" / f"{model_name}.yaml"
    if not path.is_file():
        return set()
    with open(path, encoding="utf-8") as handle:
        return set(yaml.safe_load(handle) or {})


def _integer(key: str, value, minimum: int, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{key} must be an integer >= {minimum} ({meaning}), got {value!r}. Fix it in your config "
            f"file or on the command line (--{key}=...)."
        )
    return value


def _choice(key: str, value, options: dict[str, str], example: str) -> None:
    """ConfigError unless `value` is one of `options` (name -> note shown beside it; ~ = default)."""
    if value is None or value in options:
        return
    names = " or ".join(f"'{name}'" + (f" ({note})" if note else "") for name, note in options.items())
    raise ConfigError(
        f"{key} must be {names}, got {value!r}. Fix it in your config file or on the command line "
        f"(--{key}={example})."
    )


def sid_depth(config) -> int:
    """H: tokens per item (the k-means levels plus the de-duplication digit)."""
    from recbole_maskgr.data.dataset import sid_config_value

    levels = sid_config_value(config, "sid_levels")
    return _integer("sid_levels", levels, 1, "residual k-means levels per item") + 1


def check_sid_settings(config) -> None:
    from recbole_maskgr.data.dataset import sid_config_value

    sid_depth(config)
    size = sid_config_value(config, "sid_codebook_size")
    _integer("sid_codebook_size", size, 2, "codes per level; one code cannot tell items apart")
    _choice("sid_source", sid_config_value(config, "sid_source"),
            {"auto": "text where loaded, else collaborative", "text": "", "collaborative": "", "both": ""}, "auto")
    _integer("sid_collaborative_dim", sid_config_value(config, "sid_collaborative_dim"), 1,
             "size of the collaborative item vectors")


def check_beam_width(config) -> None:
    """Same rule as the models' __init__, but before the SID table is built."""
    from recbole_maskgr.model.base import check_beam_width as beam_width_rule

    _integer("beam_width", config["beam_width"], 1, "beams kept while decoding")
    beam_width_rule(config["beam_width"], config["topk"], bool(config["rank_beyond_beams"]))


def check_decode_steps(config) -> None:
    from recbole_maskgr.model.maskgr import parse_schedule

    depth = sid_depth(config)
    value = config["decode_steps"]
    try:
        parse_schedule(value, depth)
    except (TypeError, ValueError) as err:
        example = [depth - depth // 2, depth // 2] if depth > 1 else [1]
        problem = str(err) if str(err).startswith("decode_steps") else f"decode_steps {value!r} is unreadable ({err})"
        raise ConfigError(
            f"{problem}. Each item has H = sid_levels + 1 = {depth} tokens; "
            f"set decode_steps to ~ (one token per step), an integer from 1 to {depth}, or a list of "
            f"positive integers adding up to {depth}, e.g. {example}."
        ) from err


def check_diffusion_settings(config) -> None:
    """MaskGR's objective settings: shares in range, known choices, and a layout that fits the share."""
    rules = {  # key: (test, allowed range, why)
        "mask_t_min": (lambda v: 0.0 < v < 1.0, "(0, 1)", "the smallest noise level t; the loss weighs by 1/t"),
        "target_mask_prob": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
        "item_mask_prob": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
        "clean_history_share": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
    }
    for key, (ok, allowed, why) in rules.items():
        value = config[key]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
            raise ConfigError(
                f"{key} must be a number in {allowed} ({why}), got {value!r}. Fix it in your config file "
                f"or on the command line (--{key}=...)."
            )
    layout = config["history_tokens"]
    _choice("history_tokens", layout, {"codes": "", "items": ""}, example="items")
    _choice("loss_weight", config["loss_weight"], {"inverse_t": "the paper's 1/t", "uniform": ""}, "inverse_t")
    _choice(
        "history_attention", config["history_attention"],
        {"all": "every token sees every other, the paper", "history_only": "the history sees only itself"},
        "history_only",
    )
    share = config["clean_history_share"]
    if layout == "items" and share is not None and float(share) < 1.0:
        raise ConfigError(
            f"history_tokens: items needs clean_history_share: 1 (got {share}): with one position per "
            "history item no single history token can be masked. Set --clean_history_share=1, or "
            "--history_tokens=codes for the paper's objective."
        )


def check_checkpoint_interval(config) -> None:
    value = config["checkpoint_every_steps"]
    if value is None or value == 0:
        return  # off
    _integer("checkpoint_every_steps", value, 1, "optimizer steps between mid-epoch checkpoints; ~ = off")


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
