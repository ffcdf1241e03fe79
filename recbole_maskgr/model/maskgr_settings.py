"""MaskGR's own setting rules (run by `MaskGR.check_config`, hence before any data is loaded)."""

from __future__ import annotations

from recbole_maskgr.config import ConfigError
from recbole_maskgr.data.checks import check_next_k, choice_setting, integer_setting, number_setting, sid_depth
from recbole_maskgr.decoding.beams import ORDER_CHOICES
from recbole_maskgr.decoding.spec import parse_schedule


def check_decode_steps(config) -> None:
    choice_setting("decode_order", config["decode_order"], ORDER_CHOICES, "top-prob")
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


def check_dense_and_next_k(config) -> None:
    """`next_k` and the dense-retrieval extension: both build on the one-vector-per-item layout."""
    check_next_k(config)
    if not isinstance(config["dense_retrieval"], bool):
        raise ConfigError(f"dense_retrieval must be True or False, got {config['dense_retrieval']!r}.")
    dense = config["dense_retrieval"]
    for option, active in (("next_k > 1", config["next_k"] > 1), ("dense_retrieval", dense)):
        if active and config["history_tokens"] != "items":
            raise ConfigError(f"{option} needs history_tokens: items (got {config['history_tokens']!r}). "
                              f"Set --history_tokens=items, or leave {option.split()[0]} at its default.")
    if dense and config["next_k"] > 1:
        raise ConfigError("dense_retrieval retrieves one item; it cannot be combined with next_k > 1. Drop one.")
    if dense:
        integer_setting("dense_every", config["dense_every"], 1, "training steps per dense-loss step")
        number_setting("dense_loss_weight", config["dense_loss_weight"], lambda v: v >= 0, ">= 0",
                       "weight of the dense loss")
        number_setting("dense_temperature", config["dense_temperature"], lambda v: v > 0, "> 0", "softmax temperature")
    for phase in ("valid", "test"):
        if config[f"{phase}_decoding"] == "dense" and not dense:
            raise ConfigError(f"{phase}_decoding: dense needs dense_retrieval: True (the head it queries). "
                              f"Set --dense_retrieval=True, or --{phase}_decoding=beam.")


def check_diffusion_settings(config) -> None:
    """MaskGR's objective settings: shares in range, known choices, and a layout that fits the share."""
    rules = {  # key: (test, allowed range, why)
        "mask_t_min": (lambda v: 0.0 < v < 1.0, "(0, 1)", "the smallest noise level t; the loss weighs by 1/t"),
        "target_mask_prob": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
        "item_mask_prob": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
        "clean_history_share": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
    }
    for key, (ok, allowed, why) in rules.items():
        number_setting(key, config[key], ok, allowed, why)
    integer_setting("train_chunk_sequences", config["train_chunk_sequences"], 1, "sequences per training chunk")
    layout = config["history_tokens"]
    choice_setting("history_tokens", layout, {"codes": "", "items": ""}, example="items")
    choice_setting("loss_weight", config["loss_weight"], {"inverse_t": "the paper's 1/t", "uniform": ""}, "inverse_t")
    choice_setting(
        "history_attention", config["history_attention"],
        {"all": "every token sees every other, the paper", "history_only": "the history sees only itself"},
        "history_only",
    )
    share = config["clean_history_share"]
    if layout == "items" and float(share) < 1.0:
        raise ConfigError(
            f"history_tokens: items needs clean_history_share: 1 (got {share}): with one position per "
            "history item no single history token can be masked. Set --clean_history_share=1, or "
            "--history_tokens=codes for the paper's objective."
        )


def check_item_level_settings(config) -> None:
    """The hybrid item input and the item-level softmax: both build on one input vector per item;
    the item head reads a second, all-masked copy of the target slots over the cached history."""
    if not isinstance(config["item_id_vectors"], bool):
        raise ConfigError(f"item_id_vectors must be True or False, got {config['item_id_vectors']!r}.")
    number_setting("item_loss_weight", config["item_loss_weight"], lambda v: v >= 0, ">= 0",
                   "weight of the item-level softmax loss; 0 = off")
    number_setting("beam_rerank_weight", config["beam_rerank_weight"], lambda v: v >= 0, ">= 0",
                   "share of the item-level log-prob in the beams' final scores")
    number_setting("item_marginal_weight", config["item_marginal_weight"], lambda v: v >= 0, ">= 0",
                   "share of the one-pass token likelihood in `item` decoding's scores")
    number_setting("token_loss_weight", config["token_loss_weight"], lambda v: v >= 0, ">= 0",
                   "weight of the masked-diffusion token loss (0 = the item head alone, an ablation)")
    integer_setting("item_negatives", config["item_negatives"], 0,
                    "items each target is scored against in the item loss (0 = every item)")
    head = float(config["item_loss_weight"]) > 0
    needs = [("item_id_vectors", config["item_id_vectors"]), ("item_loss_weight > 0", head)]
    for option, active in needs:
        if active and config["history_tokens"] != "items":
            raise ConfigError(f"{option} needs history_tokens: items (got {config['history_tokens']!r}). "
                              f"Set --history_tokens=items, or leave {option.split()[0]} at its default.")
    if head and config["history_attention"] != "history_only":
        raise ConfigError("item_loss_weight > 0 needs history_attention: history_only (its all-masked slots "
                          "share the cached history). Set --history_attention=history_only, or --item_loss_weight=0.")
    uses_head = [f"{phase}_decoding: item" for phase in ("valid", "test") if config[f"{phase}_decoding"] == "item"]
    if float(config["beam_rerank_weight"]) > 0:
        uses_head.append("beam_rerank_weight > 0")
    if float(config["token_loss_weight"]) == 0:
        uses_head.append("token_loss_weight: 0")
    if uses_head and not head:
        raise ConfigError(f"{uses_head[0]} needs the item head: set --item_loss_weight to a value > 0 "
                          "(e.g. 1.0), or drop the option.")
