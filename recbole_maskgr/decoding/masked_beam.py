"""Beam search over unmasking steps for masked-diffusion SID generation (MaskGR inference).

The next item's H target positions start fully masked. Each *step* runs the encoder once on every
live beam of every user (one batched call of ``log_prob_fn``) and then unmasks ``steps[s]``
positions by single-position expansions that reuse that step's log-probabilities: fewer steps than
H means fewer encoder passes (NFE) at some cost in accuracy.

Differences from the reference code, chosen deliberately:

* ``order='top-prob'`` takes the masked position whose best token is most probable (argmax, so the
  search is deterministic); the reference *samples* the position from ``softmax(max_prob / 0.01)``.
* All beams of all users share one encoder call per step, instead of one call per beam.
* Candidates whose (partial) tuple equals a better-scored candidate's tuple (the same positions
  filled with the same tokens in another order) are dropped at every expansion, keeping the best
  score, so the B slots hold B distinct tuples.
* ``invalid='constrained'`` restricts every expansion to tokens that keep some catalogue item
  reachable; ``invalid='projection'`` reproduces the reference (search freely, then map each tuple
  to the catalogue item agreeing in the most positions, then drop duplicate items).
  Constrained log-probs are renormalised over the allowed tokens at each position (a log_softmax
  over the masked logits), so a forced token costs 0 and, under ``top-prob``, forced positions are
  filled first. Scores are therefore sums of renormalised log-probs, not raw model log-probs.
* Beams with score -inf (fewer valid continuations than B) are not passed to ``log_prob_fn``.
* Constrained mode fills forced positions (one allowed token, probability 1 after renormalising)
  for free, without spending a step of the schedule, and beams that are already a complete item
  skip the remaining encoder passes. With 12k items and H = 5 most beams are complete after two
  chosen tokens, which cuts the per-user passes far below the reference's 1 + B * (H - 1).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from .beams import BeamResult, duplicates, empty_result, initial_beams, search_device, validate_search
from .constraints import SIDCatalogue

__all__ = ["BeamResult", "masked_beam_search"]

LogProbFn = Callable[[Tensor, Tensor], Tensor]


def _fill_forced(tokens: Tensor, scores: Tensor, catalogue: SIDCatalogue) -> tuple[Tensor, Tensor]:
    """Fill every masked position that the catalogue allows only one token at (constrained mode).

    After renormalisation such a token has probability 1, so filling it costs nothing and needs no
    encoder pass; a beam whose fixed tokens single out one item is complete at once. One round is
    enough: a forced token is shared by all consistent items, so it leaves the others unchanged,
    and so the live beams' allowed tokens [L, H, K] (returned for the next expansion) too.
    """
    U, b, H = tokens.shape
    flat = tokens.view(U * b, H)  # [U*b, H]
    live_idx = torch.isfinite(scores).view(-1).nonzero().squeeze(1)  # [L]
    live_tokens = flat[live_idx]  # [L, H]
    allowed = catalogue.allowed_tokens(live_tokens)  # [L, H, K]
    if live_idx.numel() == 0:
        return tokens, allowed
    forced = (allowed.sum(-1) == 1) & (live_tokens < 0)  # [L, H]
    filled = torch.where(forced, allowed.to(torch.uint8).argmax(-1), live_tokens)  # [L, H]
    flat = flat.clone()
    flat[live_idx] = filled
    return flat.view(U, b, H), allowed


def _log_normaliser(x: Tensor) -> Tensor:
    """logsumexp over the last dim of x [L, H, K] (-inf allowed), shifted by the max it also needs."""
    best = x.amax(-1, keepdim=True).clamp(min=torch.finfo(x.dtype).min)  # [L, H, 1]; all -inf -> finite
    return (x - best).exp_().sum(-1).log_().add_(best.squeeze(-1))  # [L, H]


def _renormalised_confidence(lp: Tensor, probs: Tensor, source: Tensor, allowed: Tensor) -> tuple[Tensor, Tensor]:
    """Per position of each live beam: the best allowed token's log-prob renormalised over the
    allowed tokens, and the log-normaliser. Both [L, H].

    Computed in probability space (`probs` = exp(lp), one exp per encoder pass instead of one per
    expansion). A position whose allowed probabilities all underflow to 0 is redone exactly in log
    space (a live beam allows at least one token at every position).
    """
    p = probs[source] * allowed  # [L, H, K]
    mass = p.sum(-1)  # [L, H]
    log_norm = mass.log()  # [L, H]
    confidence = p.amax(-1).log() - log_norm  # [L, H]
    under = (mass == 0).any(1).nonzero().squeeze(1)  # [R] rows with an underflowing position
    if under.numel():
        exact = torch.where(allowed[under], lp[source[under]], float("-inf"))  # [R, H, K]
        log_norm[under] = _log_normaliser(exact)
        confidence[under] = exact.amax(-1) - log_norm[under]
    return confidence, log_norm


def _choose_positions(confidence: Tensor | None, masked: Tensor, order: str, generator: torch.Generator | None) -> Tensor:
    """Position to unmask for each live beam: ``[L]`` indices of still-masked positions.

    ``confidence`` ``[L, H]`` (top-prob only): the best token's log-prob at each position;
    ``masked`` ``[L, H]``.
    """
    if order == "left-to-right":
        return masked.to(torch.uint8).argmax(-1)  # [L]; first True = lowest masked index
    if order == "top-prob":
        best = confidence.clamp(min=torch.finfo(confidence.dtype).min)  # -inf -> finite so masked beats fixed
        return best.masked_fill(~masked, float("-inf")).argmax(-1)  # [L]
    gen_device = generator.device if generator is not None else masked.device
    r = torch.rand(masked.shape, generator=generator, device=gen_device).to(masked.device)  # [L, H]
    return r.masked_fill(~masked, -1.0).argmax(-1)  # [L]


def _expand_one(
    tokens: Tensor,
    scores: Tensor,
    lp_row: Tensor,
    lp: Tensor,
    beam_width: int,
    order: str,
    allowed: Tensor | None,
    generator: torch.Generator | None,
    probs: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Unmask one position per beam, reusing this step's log-probs, and keep the top distinct B.

    allowed: the live beams' allowed tokens [L, H, K] (constrained mode; from `_fill_forced`), or None.
    probs: exp(lp) [N, H, K], needed for constrained top-prob.
    """
    U, b, H = tokens.shape
    K = lp.shape[-1]
    flat_tokens = tokens.view(U * b, H)  # [U*b, H]
    live_idx = torch.isfinite(scores).view(-1).nonzero().squeeze(1)  # [L]
    live_tokens = flat_tokens[live_idx]  # [L, H]
    complete = (live_tokens >= 0).all(-1)  # [L]: nothing left to unmask (forced fills)
    source = lp_row.view(-1)[live_idx].clamp(min=0)  # [L]; complete beams may have no row
    # Renormalise over allowed tokens (a forced token costs log 1 = 0): under top-prob the
    # normaliser of every position picks the position; the renormalised row only where chosen.
    confidence = log_norm = None
    if order == "top-prob" and allowed is not None:
        confidence, log_norm = _renormalised_confidence(lp, probs, source, allowed)  # [L, H] each
    elif order == "top-prob":
        confidence = lp[source].amax(-1)  # [L, H]
    pos_live = _choose_positions(confidence, live_tokens < 0, order, generator)  # [L]
    row = lp[source, pos_live]  # [L, K]
    if allowed is not None:
        row = torch.where(allowed[torch.arange(len(pos_live), device=lp.device), pos_live], row, float("-inf"))
        norm = row.logsumexp(-1, keepdim=True) if log_norm is None else log_norm.gather(1, pos_live[:, None])  # [L, 1]
        row = torch.where(torch.isfinite(norm), row - norm, float("-inf"))  # [L, K]
    if bool(complete.any()):
        # a complete beam carries over unchanged: its only candidate rewrites its own token at 0
        pos_live = pos_live.masked_fill(complete, 0)
        keep = torch.full_like(row, float("-inf")).scatter(1, live_tokens[:, :1].clamp(min=0), 0.0)  # [L, K]
        row = torch.where(complete[:, None], keep, row)
    cand = torch.full((U * b, K), float("-inf"), dtype=lp.dtype, device=lp.device)  # [U*b, K]
    cand[live_idx] = scores.view(-1)[live_idx, None] + row
    cand = cand.view(U, b * K)  # [U, b*K]
    pos = torch.zeros(U * b, dtype=torch.long, device=lp.device)  # [U*b]; dead beams: any position
    pos[live_idx] = pos_live
    pos = pos.view(U, b)

    # A tuple can be reached from at most min(b, H) parents, so the top B*min(b, H) candidates
    # contain B distinct tuples whenever that many exist.
    k1 = min(b * K, beam_width * min(b, H))
    val, idx = cand.topk(k1, dim=1)  # [U, k1], sorted descending
    parent = idx // K  # [U, k1]
    tok = idx % K  # [U, k1]
    new_tokens = tokens.gather(1, parent[..., None].expand(U, k1, H)).clone()  # [U, k1, H]
    new_tokens.scatter_(2, pos.gather(1, parent)[..., None], tok[..., None])
    if b > 1:
        val = val.masked_fill(duplicates(new_tokens), float("-inf"))
    b2 = min(beam_width, k1)
    val, sel = val.topk(b2, dim=1)  # [U, b2]
    new_tokens = new_tokens.gather(1, sel[..., None].expand(U, b2, H))  # [U, b2, H]
    new_lp_row = lp_row.gather(1, parent.gather(1, sel))  # [U, b2]
    return new_tokens, val, new_lp_row


@torch.no_grad()
def masked_beam_search(
    log_prob_fn: LogProbFn,
    n_users: int,
    H: int,
    K: int,
    beam_width: int,
    steps: Sequence[int] | None = None,
    order: str = "top-prob",
    catalogue: SIDCatalogue | None = None,
    invalid: str = "constrained",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> BeamResult:
    """Generate the next item's SID for ``n_users`` users by beam search over unmasking steps.

    Args:
        log_prob_fn: ``(user_index LongTensor [N], target LongTensor [N, H] with -1 = masked)
            -> [N, H, K]`` log-probabilities of the K codes at each target position (mask id
            excluded). Called once per step on all live beams of all users.
        n_users: number of users U (user indices ``0..U-1`` are passed to ``log_prob_fn``).
        H, K: SID length and codebook size.
        beam_width: B, beams kept per user.
        steps: tokens unmasked per encoder pass, positive, summing to H (default ``[1] * H``).
        order: ``'top-prob'`` (most confident masked position, argmax), ``'left-to-right'`` or
            ``'random'`` (uniform among masked positions, per beam, drawn from ``generator``).
        catalogue: the item SIDs; required for ``invalid='constrained'``. In projection mode without
            a catalogue, ``items`` is all -1 and only ``tokens``/``scores`` are meaningful.
        invalid: ``'constrained'`` (disallowed tokens get -inf and each position is renormalised over
            the allowed tokens, so every beam is a real, distinct item) or ``'projection'``
            (reference: search freely, map tuples to the closest item, de-duplicate items).
        generator: RNG for ``order='random'``.
        device: where the search state lives (default: the catalogue's device, else CPU).

    Returns:
        ``BeamResult`` with ``items [U, B]``, ``scores [U, B]`` (sum of log-probs, descending,
        -inf for empty slots), ``tokens [U, B, H]``, ``nfe`` (calls) and ``rows`` (beam rows).
    """
    steps = validate_search(n_users, H, K, beam_width, steps, order, catalogue, invalid)
    U, B, device, constrained = int(n_users), int(beam_width), search_device(catalogue, device), invalid == "constrained"
    if U == 0:
        return empty_result(B, H, device)
    users, tokens, scores = initial_beams(U, H, device)
    nfe = rows = 0
    allowed = None  # the live beams' allowed tokens (constrained mode), kept from the last fill
    for m in steps:
        if constrained:
            tokens, allowed = _fill_forced(tokens, scores, catalogue)
        b = tokens.shape[1]
        pending = torch.isfinite(scores).view(-1) & (tokens.view(-1, H) < 0).any(-1)  # [U*b]
        if not bool(pending.any()):
            break  # every beam is a complete item: no more encoder passes
        live_idx = pending.nonzero().squeeze(1)  # [N]
        user_index = users[:, None].expand(U, b).reshape(-1)[live_idx]  # [N]
        lp = log_prob_fn(user_index, tokens.view(-1, H)[live_idx])  # [N, H, K]
        if lp.shape != (live_idx.numel(), H, K):
            raise ValueError(f"log_prob_fn returned shape {tuple(lp.shape)}, expected {(live_idx.numel(), H, K)}")
        lp = lp.to(device)
        probs = lp.exp() if constrained and order == "top-prob" else None  # [N, H, K], once per pass
        nfe += 1
        rows += live_idx.numel()
        scores = scores.to(lp.dtype)
        lp_row = torch.full((U * b,), -1, dtype=torch.long, device=device)  # [U*b]
        lp_row[live_idx] = torch.arange(live_idx.numel(), device=device)
        lp_row = lp_row.view(U, b)
        for _ in range(m):
            tokens, scores, lp_row = _expand_one(tokens, scores, lp_row, lp, B, order, allowed, generator, probs)
            if constrained:
                tokens, allowed = _fill_forced(tokens, scores, catalogue)

    b = tokens.shape[1]
    live = torch.isfinite(scores)  # [U, b]
    if catalogue is None:
        items = torch.full((U, b), -1, dtype=torch.long, device=device)
    elif constrained:
        items = catalogue.lookup(tokens.view(-1, H)).view(U, b)  # [U, b]
    else:
        items = catalogue.project(tokens.view(-1, H)).view(U, b)  # [U, b]
    if catalogue is not None:  # a tuple the catalogue refuses (a joint tuple naming one item twice) is dropped
        scores = scores.masked_fill(live & (items < 0), float("-inf"))
    items = items.masked_fill(~live, -1)
    # Projection can map several tuples to one item: keep its best-scored beam (beams are sorted).
    dup = duplicates(items[..., None]) & (items >= 0)  # [U, b]
    scores = scores.masked_fill(dup, float("-inf"))
    scores, sel = torch.sort(scores, dim=1, descending=True, stable=True)  # [U, b]
    items = items.gather(1, sel)
    tokens = tokens.gather(1, sel[..., None].expand(U, b, H))
    live = torch.isfinite(scores)
    items = items.masked_fill(~live, -1)
    tokens = tokens.masked_fill(~live[..., None], -1)
    if b < B:  # fewer than B tuples exist (K**H < B)
        pad = B - b
        items = torch.cat([items, items.new_full((U, pad), -1)], 1)
        scores = torch.cat([scores, scores.new_full((U, pad), float("-inf"))], 1)
        tokens = torch.cat([tokens, tokens.new_full((U, pad, H), -1)], 1)
    return BeamResult(items, scores, tokens, nfe, rows)
