"""Cheap checks of a run's settings, before any long work starts.

A bad SID or decoding setting would otherwise surface only after the item texts were embedded.
The atomic files are scanned in `atomic_files.py`, a `--resume` file is checked in
`trainer/checkpoint.py` (`check_resume_file`).
"""

from __future__ import annotations

from recbole_maskgr.decoding.constraints import fits_int64_keys
from recbole_maskgr.settings import ConfigError, checked_values, setting_value, sid_length
from recbole_maskgr.settings.plugin import SIDS


def check_sid_settings(config) -> None:
    """The SID settings' own rules, the int64 key size they give, and the text settings they will use."""
    sid = checked_values(config, "MaskGR", [setting.name for setting in SIDS.settings])
    check_sid_key_size(sid.sid_levels, sid.sid_codebook_size)
    if sid.sid_source != "collaborative" or config["dense_retrieval"]:
        check_text_settings(config)


def check_sid_key_size(levels: int, size: int) -> None:
    """Constrained decoding keys a full SID as one int64 (`decoding.constraints`): size ** H must fit."""
    if fits_int64_keys(size, sid_length(levels)):
        return
    most = 0
    while fits_int64_keys(size, sid_length(most + 1)):
        most += 1
    fix = f"use sid_levels <= {most} or a smaller sid_codebook_size" if most else "use a smaller sid_codebook_size"
    raise ConfigError(
        f"sid_levels {levels} x sid_codebook_size {size} gives {size}**{sid_length(levels)} possible SIDs (with the de-dup "
        f"digit), more than the int64 keys of the decoding catalogue hold (2**63): {fix}."
    )


def check_text_settings(config) -> None:
    """`sid_text_template` and `sid_text_encoder`, which would fail only once item texts are built or embedded."""
    from recbole_maskgr.sid.encode import encoder_problem
    from recbole_maskgr.sid.text import template_problem

    template = setting_value(config, "sid_text_template")
    problem = None if template is None else template_problem(template)
    if problem:
        raise ConfigError(
            f"sid_text_template {template!r} is not a usable template: {problem}. Write .item field names in "
            "braces, e.g. '{title} by {brand}', and double a literal brace ('{{' or '}}')."
        )
    encoder = setting_value(config, "sid_text_encoder")
    problem = encoder_problem(encoder)
    if problem:
        raise ConfigError(
            f"sid_text_encoder '{encoder}' {problem}. Name a sentence-transformers model folder (with "
            "modules.json), a Hugging Face model id, or leave the default all-MiniLM-L6-v2 (it ships offline)."
        )


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
