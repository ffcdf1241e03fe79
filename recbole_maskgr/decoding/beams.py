"""Beam bookkeeping shared by the masked (MaskGR) and autoregressive (TIGER) searches: the result
type, argument checks, the initial beams, and exact duplicate detection."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from recbole_maskgr.settings.models import DECODE_ORDERS, INVALID_SID_RULES

from .constraints import SIDCatalogue

# The choices, with what each means (the `decode_order` and `invalid_sid` settings name them).
ORDERS, INVALID = tuple(DECODE_ORDERS), tuple(INVALID_SID_RULES)


class BeamResult(NamedTuple):
    """Finished beams per user, best first."""

    items: Tensor  # [U, B] catalogue index, -1 = empty slot / no catalogue
    scores: Tensor  # [U, B] summed log-probs, descending, -inf for empty slots
    tokens: Tensor  # [U, B, H] generated per-level codes, -1 for empty slots
    nfe: int  # calls of log_prob_fn (batched encoder passes)
    rows: int  # beam rows evaluated over all calls (= per-beam passes of an unbatched search)


def validate_search(n_users, H, K, beam_width, steps, order, catalogue, invalid) -> list[int]:
    if int(n_users) < 0:
        raise ValueError(f"n_users must be >= 0, got {n_users}")
    if int(H) < 1 or int(K) < 1:
        raise ValueError(f"H and K must be >= 1, got H={H}, K={K}")
    if int(beam_width) < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    steps = [1] * int(H) if steps is None else [int(m) for m in steps]
    if not steps or any(m < 1 for m in steps):
        raise ValueError(f"steps must be a non-empty list of positive token counts, got {steps}")
    if sum(steps) != H:
        raise ValueError(f"steps must sum to H={H}, got {steps} (sum {sum(steps)})")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if invalid not in INVALID:
        raise ValueError(f"invalid must be one of {INVALID}, got {invalid!r}")
    if invalid == "constrained" and catalogue is None:
        raise ValueError("invalid='constrained' needs a catalogue")
    if catalogue is not None and (catalogue.H != H or catalogue.K != K):
        raise ValueError(f"catalogue has H={catalogue.H}, K={catalogue.K}; search asked for H={H}, K={K}")
    return steps


def search_device(catalogue: SIDCatalogue | None, device) -> torch.device:
    """Where the search state lives: as asked, else with the catalogue, else the CPU."""
    if device is not None:
        return torch.device(device)
    return catalogue.codes.device if catalogue is not None else torch.device("cpu")


def empty_result(beam_width: int, H: int, device) -> BeamResult:
    """The result for zero users (RecBole can hand over an empty batch)."""
    return BeamResult(
        torch.empty(0, beam_width, dtype=torch.long, device=device),
        torch.empty(0, beam_width, device=device),
        torch.empty(0, beam_width, H, dtype=torch.long, device=device),
        0,
        0,
    )


def initial_beams(n_users: int, H: int, device):
    """One all-masked beam per user with score 0: (users [U], tokens [U, 1, H], scores [U, 1])."""
    users = torch.arange(n_users, device=device)  # [U]
    tokens = torch.full((n_users, 1, H), -1, dtype=torch.long, device=device)  # [U, b, H]
    return users, tokens, torch.zeros(n_users, 1, device=device)


def duplicates(tup: Tensor) -> Tensor:
    """``[U, k]`` True where an earlier column of the same row holds an identical tuple.

    ``tup`` is ``[U, k, H]``. Exact for any K and H: an LSD radix sort of stable sorts (one per
    position) groups equal tuples while keeping their original (score) order.
    """
    U, k, H = tup.shape
    order = torch.arange(k, device=tup.device).expand(U, k)  # [U, k]
    for j in reversed(range(H)):
        col = tup[..., j].gather(1, order)  # [U, k]
        order = order.gather(1, torch.sort(col, dim=1, stable=True).indices)  # [U, k]
    srt = tup.gather(1, order[..., None].expand(U, k, H))  # [U, k, H]
    same = (srt[:, 1:] == srt[:, :-1]).all(-1)  # [U, k-1]
    dup_sorted = torch.cat([torch.zeros_like(same[:, :1]), same], 1)  # [U, k]
    return torch.zeros_like(dup_sorted).scatter(1, order, dup_sorted)  # [U, k]
