"""MaskGR's rules that tie several settings together (run by `MaskGR.check_config`, hence before any
data is loaded). Each setting's own range or choices are declared in recbole_maskgr/settings and
checked there; these functions read the typed, already checked values."""

from __future__ import annotations

from types import SimpleNamespace

from recbole_maskgr.decoding.spec import parse_schedule
from recbole_maskgr.settings import ConfigError, sid_length


def check_decode_steps(s: SimpleNamespace) -> None:
    """`decode_steps` must fit the SID length H = sid_levels + 1."""
    length = sid_length(s.sid_levels)
    try:
        parse_schedule(s.decode_steps, length)
    except (TypeError, ValueError) as err:
        example = [length - length // 2, length // 2] if length > 1 else [1]
        problem = str(err) if str(err).startswith("decode_steps") else f"decode_steps {s.decode_steps!r} is unreadable ({err})"
        raise ConfigError(
            f"{problem}. Each item has H = sid_levels + 1 = {length} tokens; "
            f"set decode_steps to ~ (one token per step), an integer from 1 to {length}, or a list of "
            f"positive integers adding up to {length}, e.g. {example}."
        ) from err


def needs_item_layout(option: str, s: SimpleNamespace) -> None:
    """Options that build on one input vector per history item."""
    if s.history_tokens != "items":
        raise ConfigError(f"{option} needs history_tokens: items (got {s.history_tokens!r}). "
                          f"Set --history_tokens=items, or leave {option.split()[0]} at its default.")


def check_dense_and_next_k(s: SimpleNamespace) -> None:
    """`next_k` and the dense-retrieval extension: both build on the one-vector-per-item layout."""
    for option, active in (("next_k > 1", s.next_k > 1), ("dense_retrieval", s.dense_retrieval)):
        if active:
            needs_item_layout(option, s)
    if s.dense_retrieval and s.next_k > 1:
        raise ConfigError("dense_retrieval retrieves one item; it cannot be combined with next_k > 1. Drop one.")
    if s.dense_layer >= s.n_layers:
        blocks = {1: "", 2: " or 1 (the intermediate block)"}.get(s.n_layers, f" or 1..{s.n_layers - 1} (a block)")
        raise ConfigError(f"dense_layer {s.dense_layer} names no intermediate block of a {s.n_layers}-layer encoder. "
                          f"Set --dense_layer to 0 (the last layer's output){blocks}.")
    for phase in ("valid", "test"):
        if getattr(s, f"{phase}_decoding") == "dense" and not s.dense_retrieval:
            raise ConfigError(f"{phase}_decoding: dense needs dense_retrieval: True (the head it queries). "
                              f"Set --dense_retrieval=True, or --{phase}_decoding=beam.")


def check_history_layout(s: SimpleNamespace) -> None:
    """One position per history item leaves no single history token to mask."""
    if s.history_tokens == "items" and s.clean_history_share < 1.0:
        raise ConfigError(
            f"history_tokens: items needs clean_history_share: 1 (got {s.clean_history_share:g}): with one position "
            "per history item no single history token can be masked. Set --clean_history_share=1, or "
            "--history_tokens=codes for the paper's objective."
        )


def check_item_level_settings(s: SimpleNamespace) -> None:
    """The hybrid item input and the item-level softmax: both build on one input vector per item;
    the item head reads a second, all-masked copy of the target slots over the cached history."""
    head = s.item_loss_weight > 0
    for option, active in (("item_id_vectors", s.item_id_vectors), ("item_loss_weight > 0", head)):
        if active:
            needs_item_layout(option, s)
    if head and s.history_attention != "history_only":
        raise ConfigError("item_loss_weight > 0 needs history_attention: history_only (its all-masked slots "
                          "share the cached history). Set --history_attention=history_only, or --item_loss_weight=0.")
    uses_head = [f"{phase}_decoding: item" for phase in ("valid", "test") if getattr(s, f"{phase}_decoding") == "item"]
    if s.beam_rerank_weight > 0:
        uses_head.append("beam_rerank_weight > 0")
    if s.token_loss_weight == 0:
        uses_head.append("token_loss_weight: 0")
    if uses_head and not head:
        raise ConfigError(f"{uses_head[0]} needs the item head: set --item_loss_weight to a value > 0 "
                          "(e.g. 1.0), or drop the option.")


def check_maskgr_settings(s: SimpleNamespace) -> None:
    check_decode_steps(s)
    check_history_layout(s)
    check_dense_and_next_k(s)
    check_item_level_settings(s)
