"""Left-to-right beam search over semantic IDs (TIGER-style autoregressive inference).

The next item's H codes are generated in order, one decoder call per level, for every live beam of
every user at once. The search owns only the bookkeeping; the model's ``step_fn`` owns the network
and its key/value cache. To let the model keep that cache, every call says for each row which row of
the *previous* call it extends (``parent``), so the cache is reordered by one index per call.

Choices, made to keep TIGER comparable with ``masked_beam_search`` (MaskGR):

* ``invalid='constrained'`` restricts level ``l`` to codes that keep some catalogue item reachable
  from the beam's prefix (``SIDCatalogue.allowed_tokens``: a prefix is one pattern of fixed
  positions) and renormalises the step's log-probs over the allowed codes, exactly as the masked
  search does. A forced code then costs 0, and scores are sums of renormalised log-probs, so the
  two searches' scores mean the same thing (they are not raw model log-likelihoods).
* A beam whose prefix already singles out one item (every later level forced) is completed at once
  and skips the remaining decoder calls, as complete beams do in the masked search: where few items
  share a code tuple the de-dup digit is forced and the last level costs nothing. So ``nfe`` <= H
  (H calls unless every beam finished early), and ``rows`` (beam rows passed to ``step_fn``) is
  counted as in the masked search.
* Distinct prefixes extended by distinct codes stay distinct, so unlike the masked search no
  de-duplication of tuples is needed; ``invalid='projection'`` (the reference's repair: search freely,
  map each tuple to the closest item) can map two beams to one item, and keeps the better one.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .constraints import SIDCatalogue
from .beams import BeamResult, duplicates, empty_result, initial_beams, search_device, validate_search

__all__ = ["StepFn", "autoregressive_beam_search"]

# (user_index [N], parent [N], prefix [N, l]) -> log-probs [N, K] of the level-l code
StepFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def _renormalise(log_probs: Tensor, allowed: Tensor) -> Tensor:
    """Log-probs [N, K] restricted to `allowed` [N, K] and renormalised; rows with nothing allowed -> -inf."""
    x = log_probs.masked_fill(~allowed, float("-inf"))  # [N, K]
    norm = x.logsumexp(-1, keepdim=True)  # [N, 1]
    return torch.where(torch.isfinite(norm), x - norm, float("-inf"))


def _complete_or_constrain(tokens: Tensor, scores: Tensor, done: Tensor, level: int, catalogue: SIDCatalogue):
    """After filling `level`: finish beams whose prefix names one item; return the next level's allowed codes.

    tokens [U, b, H] (-1 after `level`), scores [U, b], done [U, b]
    -> (tokens, done, allowed_next [U, b, K])
    """
    U, b, H = tokens.shape
    flat = tokens.reshape(U * b, H).clone()  # [U*b, H]
    done = done.reshape(-1).clone()  # [U*b]
    allowed_next = torch.zeros(U * b, catalogue.K, dtype=torch.bool, device=tokens.device)  # [U*b, K]
    open_rows = (torch.isfinite(scores).view(-1) & ~done).nonzero().squeeze(1)  # [M]
    if open_rows.numel():
        allowed = catalogue.allowed_tokens(flat[open_rows])  # [M, H, K]
        suffix = allowed[:, level + 1 :]  # [M, H-l-1, K]
        single = (suffix.sum(-1) == 1).all(-1)  # [M]: exactly one consistent item
        finished = open_rows[single]  # [F]
        flat[finished, level + 1 :] = suffix[single].to(torch.uint8).argmax(-1)  # [F, H-l-1]
        done[finished] = True
        allowed_next[open_rows] = allowed[:, level + 1]
    return flat.view(U, b, H), done.view(U, b), allowed_next.view(U, b, -1)


def _finish(tokens: Tensor, scores: Tensor, catalogue: SIDCatalogue | None, constrained: bool, B: int) -> BeamResult:
    """Map tuples to catalogue items, drop projected duplicates, sort, and pad to B slots."""
    U, b, H = tokens.shape
    flat = tokens.reshape(-1, H)  # [U*b, H]
    if catalogue is None:
        items = torch.full((U, b), -1, dtype=torch.long, device=tokens.device)
    elif constrained:
        items = catalogue.lookup(flat).view(U, b)  # [U, b]
    else:
        items = catalogue.project(flat).view(U, b)  # [U, b]
    items = items.masked_fill(~torch.isfinite(scores), -1)
    if not constrained and b > 1:  # projection can map two tuples to one item: keep the better beam
        scores = scores.masked_fill(duplicates(items[..., None]) & (items >= 0), float("-inf"))
    scores, order = torch.sort(scores, dim=1, descending=True, stable=True)  # [U, b]
    live = torch.isfinite(scores)  # [U, b]
    items = items.gather(1, order).masked_fill(~live, -1)  # [U, b]
    tokens = tokens.gather(1, order[..., None].expand(U, b, H)).masked_fill(~live[..., None], -1)  # [U, b, H]
    if b < B:  # fewer than B tuples exist
        items = torch.cat([items, items.new_full((U, B - b), -1)], 1)
        scores = torch.cat([scores, scores.new_full((U, B - b), float("-inf"))], 1)
        tokens = torch.cat([tokens, tokens.new_full((U, B - b, H), -1)], 1)
    return items, scores, tokens


@torch.no_grad()
def autoregressive_beam_search(
    step_fn: StepFn,
    n_users: int,
    H: int,
    K: int,
    beam_width: int,
    catalogue: SIDCatalogue | None = None,
    invalid: str = "constrained",
    device: torch.device | str | None = None,
) -> BeamResult:
    """Generate the next item's SID left to right for ``n_users`` users, all beams batched.

    Args:
        step_fn: ``(user_index [N], parent [N], prefix [N, l]) -> [N, K]`` log-probs of the level-``l``
            code for each row. Called once per level (``l = 0, 1, ...``) on the live, unfinished beams.
            ``parent[i]`` is the row of the previous call that row ``i`` extends (at the first call, the
            user index): a cache of the previous call is reordered with ``cache[parent]``.
            ``prefix`` holds per-level codes in ``[0, K)``.
        n_users, H, K, beam_width: users U, SID length, codebook size, beams kept per user B.
        catalogue: the item SIDs; required for ``invalid='constrained'``.
        invalid: ``'constrained'`` (only catalogue items, log-probs renormalised over allowed codes)
            or ``'projection'`` (free search, then the closest catalogue item; duplicates dropped).
        device: where the search state lives (default: the catalogue's device, else CPU).

    Returns:
        ``BeamResult``: ``items [U, B]`` (-1 = empty), ``scores [U, B]`` descending (-inf = empty),
        ``tokens [U, B, H]``, ``nfe`` (calls of ``step_fn``, at most H) and ``rows`` (rows passed).
    """
    validate_search(n_users, H, K, beam_width, None, "left-to-right", catalogue, invalid)
    U, B, device, constrained = int(n_users), int(beam_width), search_device(catalogue, device), invalid == "constrained"
    if U == 0:
        return empty_result(B, H, device)
    users, tokens, scores = initial_beams(U, H, device)
    parent_row = users[:, None]  # [U, b]: row of the last call each beam extends
    done = torch.zeros(U, 1, dtype=torch.bool, device=device)  # [U, b]: complete item, no more calls
    allowed_next = catalogue.usage[0].expand(U, 1, K) if constrained else None  # [U, b, K]
    nfe = rows = 0
    for level in range(H):
        b = tokens.shape[1]
        pending = (torch.isfinite(scores) & ~done).view(-1)  # [U*b]
        if not bool(pending.any()):
            break  # every beam is a complete item
        live = pending.nonzero().squeeze(1)  # [N]
        lp = step_fn(
            users.repeat_interleave(b)[live], parent_row.reshape(-1)[live], tokens.view(-1, H)[live, :level]
        )
        if lp.shape != (live.numel(), K):
            raise ValueError(f"step_fn returned shape {tuple(lp.shape)}, expected {(live.numel(), K)}")
        lp = lp.to(device)
        nfe += 1
        rows += live.numel()
        if constrained:
            lp = _renormalise(lp, allowed_next.reshape(-1, K)[live])  # [N, K]
        scores = scores.to(lp.dtype)

        cand = torch.full((U * b, K), float("-inf"), dtype=lp.dtype, device=device)  # [U*b, K]
        cand[live] = scores.view(-1)[live, None] + lp
        # a complete beam carries over as one candidate: its own code at this level, at no cost
        kept = (done & torch.isfinite(scores)).view(-1).nonzero().squeeze(1)  # [C]
        cand[kept, tokens.view(-1, H)[kept, level]] = scores.view(-1)[kept]
        scores, idx = cand.view(U, b * K).topk(min(B, b * K), dim=1)  # [U, b'] descending
        parent, code = idx // K, idx % K  # [U, b'] each

        tokens = tokens.gather(1, parent[..., None].expand(-1, -1, H)).clone()  # [U, b', H]
        tokens[..., level] = code
        call_row = torch.full((U * b,), -1, dtype=torch.long, device=device)  # [U*b]
        call_row[live] = torch.arange(live.numel(), device=device)
        parent_row = call_row.view(U, b).gather(1, parent)  # [U, b']
        done = done.gather(1, parent)  # [U, b']
        if constrained and level + 1 < H:
            tokens, done, allowed_next = _complete_or_constrain(tokens, scores, done, level, catalogue)

    items, scores, tokens = _finish(tokens, scores, catalogue, constrained, B)
    return BeamResult(items, scores, tokens, nfe, rows)
