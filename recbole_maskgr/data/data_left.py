"""What RecBole's loading and filtering leave: checked before the SID build and training.

Without these, an emptied dataset surfaces as torch's `num_samples=0` after the SIDs were built, and
a group of items with one and the same text as a de-duplication overflow that asks for more
`sid_levels` (which cannot separate identical texts).
"""

from __future__ import annotations

import math
import os
from collections import Counter

from recbole_maskgr.config import ConfigError

COUNT_FILTERS = ("user_inter_num_interval", "item_inter_num_interval")


def no_training_rows(config, detail: str) -> ConfigError:
    narrowing = narrowing_filters(config)
    fix = f"loosen RecBole's filters {narrowing}" if narrowing else "RecBole's filters already keep everything"
    return ConfigError(
        f"Dataset '{config['dataset']}' leaves no training sequences: {detail}. Training needs users with at least "
        f"2 interactions (leave-one-out keeps each user's last ones for validation and test). Add interactions; "
        f"{fix}."
    )


def check_histories_left(config, user_ids) -> None:
    """`user_ids`: the user column of the filtered interactions (a pandas Series). Benchmark files hold
    ready-made sequences, one row each, so they are left to `check_training_split`."""
    if config["benchmark_filename"]:
        return
    if len(user_ids) and int(user_ids.value_counts().max()) < 2:
        raise no_training_rows(config, f"each of its {user_ids.nunique()} users has one interaction after "
                                       "RecBole's filters")


def check_training_split(config, train) -> None:
    """Every model: an empty training split would end in torch's `num_samples=0`."""
    if len(train) == 0:
        raise no_training_rows(config, f"the split {config['eval_args']['split']} leaves the training part empty")


def keeps_everything(value) -> bool:
    """Whether an interaction-count filter such as '[0,inf)' keeps every user or item (each has >= 1)."""
    text = str(value).replace(" ", "")
    low, _, high = text.strip("[]()").partition(",")
    try:
        low_ok = float(low) < 1 or (float(low) == 1 and text.startswith("["))
        return low_ok and math.isinf(float(high))
    except ValueError:
        return False


def active_filters(config) -> dict:
    return {k: config[k] for k in (*COUNT_FILTERS, "val_interval") if config[k]}


def narrowing_filters(config) -> dict:
    """The filters that can drop interactions (count filters such as '[0,inf)' keep every user and item)."""
    return {k: v for k, v in active_filters(config).items() if k == "val_interval" or not keeps_everything(v)}


def nothing_left(config) -> ConfigError:
    """RecBole's 'Some feat is empty': name the filters that narrowed the data, or say none did."""
    filters = active_filters(config)
    if narrowing_filters(config):
        return ConfigError(
            f"Dataset '{config['dataset']}' has no interactions left after RecBole's filters ({filters}). "
            "Loosen them (e.g. --user_inter_num_interval=\"[0,inf)\" --item_inter_num_interval=\"[0,inf)\") "
            "or use more data."
        )
    inter = os.path.join(config["data_path"], f"{config['dataset']}.inter")
    return ConfigError(
        f"Dataset '{config['dataset']}' has no interactions left after loading, and RecBole's filters keep "
        f"everything ({filters or 'none set'}): the rows of '{inter}' lack a user or item id. Check the file."
    )


def check_identical_texts(texts: list[str], raw_ids: list[str], codebook_size: int) -> None:
    """Items with one text get one embedding, hence one code at every level: at most K - 1 of them can be
    told apart by the de-duplication digit, whatever `sid_levels` is."""
    text, count = Counter(texts).most_common(1)[0] if texts else ("", 0)
    if count < codebook_size:
        return
    examples = [raw for raw, t in zip(raw_ids, texts) if t == text][:3]
    raise ConfigError(
        f"{count} items have the identical SID text {text[:80]!r} (e.g. items {', '.join(examples)}), but at most "
        f"{codebook_size - 1} items can share one (sid_codebook_size {codebook_size} numbers them with the de-dup "
        "digit). Identical texts get identical codes at every level, so more sid_levels do not help: add "
        "sid_text_fields that tell these items apart, or set sid_source: collaborative."
    )
