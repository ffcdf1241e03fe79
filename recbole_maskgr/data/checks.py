"""Cheap checks of a run's settings, before any long work starts.

A bad SID or decoding setting would otherwise surface only after the item texts were embedded.
The atomic files are scanned in `atomic_files.py`, a `--resume` file is checked in
`trainer/checkpoint.py` (`check_resume_file`).
"""

from __future__ import annotations

from recbole_maskgr.config import ConfigError
from recbole_maskgr.data.sid_settings import sid_config_value
from recbole_maskgr.decoding.constraints import fits_int64_keys
from recbole_maskgr.decoding.joint import MAX_NEXT_K


def integer_setting(key: str, value, minimum: int, meaning: str, maximum: int | None = None) -> int:
    allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
            or (maximum is not None and value > maximum)):
        raise ConfigError(
            f"{key} must be an integer {allowed} ({meaning}), got {value!r}. Fix it in your config "
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
    depth = sid_depth(config)
    size = sid_config_value(config, "sid_codebook_size")
    integer_setting("sid_codebook_size", size, 2, "codes per level; one code cannot tell items apart")
    check_sid_key_size(depth - 1, size)
    source = sid_config_value(config, "sid_source")
    choice_setting("sid_source", source,
            {"auto": "text where loaded, else collaborative", "text": "", "collaborative": "", "both": ""}, "auto")
    integer_setting("sid_collaborative_dim", sid_config_value(config, "sid_collaborative_dim"), 1,
             "size of the collaborative item vectors")
    if source != "collaborative" or config["dense_retrieval"]:
        check_text_settings(config)


def check_sid_key_size(levels: int, size: int) -> None:
    """Constrained decoding keys a full SID as one int64 (`decoding.constraints`): size ** (levels + 1) must fit."""
    if fits_int64_keys(size, levels + 1):
        return
    most = 0
    while fits_int64_keys(size, most + 2):
        most += 1
    fix = f"use sid_levels <= {most} or a smaller sid_codebook_size" if most else "use a smaller sid_codebook_size"
    raise ConfigError(
        f"sid_levels {levels} x sid_codebook_size {size} gives {size}**{levels + 1} possible SIDs (with the de-dup "
        f"digit), more than the int64 keys of the decoding catalogue hold (2**63): {fix}."
    )


def check_text_settings(config) -> None:
    """`sid_text_template` and `sid_text_encoder`, which would fail only once item texts are built or embedded."""
    from recbole_maskgr.sid.encode import encoder_problem
    from recbole_maskgr.sid.text import template_problem

    template = sid_config_value(config, "sid_text_template")
    problem = None if template is None else template_problem(template)
    if problem:
        raise ConfigError(
            f"sid_text_template {template!r} is not a usable template: {problem}. Write .item field names in "
            "braces, e.g. '{title} by {brand}', and double a literal brace ('{{' or '}}')."
        )
    encoder = sid_config_value(config, "sid_text_encoder")
    problem = encoder_problem(encoder)
    if problem:
        raise ConfigError(
            f"sid_text_encoder '{encoder}' {problem}. Name a sentence-transformers model folder (with "
            "modules.json), a Hugging Face model id, or leave the default all-MiniLM-L6-v2 (it ships offline)."
        )


def check_next_k(config) -> int:
    """`next_k` is bounded: a joint beam packs its k items into one int64 index (n_items ** k < 2**63)."""
    return integer_setting("next_k", config["next_k"], 1, f"items decoded jointly; at most {MAX_NEXT_K}, as "
                           f"k items are packed into one int64 index: {MAX_NEXT_K} fits catalogues up to "
                           f"{max_joint_items(MAX_NEXT_K):,} items", maximum=MAX_NEXT_K)


def max_joint_items(k: int) -> int:
    """The largest catalogue whose k-item tuples fit one int64 index."""
    n = int(2.0 ** (63 / k))
    while not fits_int64_keys(n, k):
        n -= 1
    return n


def check_joint_index(config, n_items: int) -> None:
    """Once the catalogue size is known (before training): its `next_k`-item tuples must fit the index."""
    k = config["next_k"] if "next_k" in config else None
    if k and k > 1 and not fits_int64_keys(n_items, k):
        raise ConfigError(
            f"next_k {k} cannot decode a catalogue of {n_items:,} items: {n_items}**{k} item tuples do not fit "
            f"the int64 index (next_k {k} fits up to {max_joint_items(k):,} items). Lower next_k."
        )


def check_checkpoint_interval(config) -> None:
    value = config["checkpoint_every_steps"]
    if value is None or value == 0:
        return  # off
    integer_setting("checkpoint_every_steps", value, 1, "optimizer steps between mid-epoch checkpoints; ~ = off")
