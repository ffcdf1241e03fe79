"""Turn per-position code distributions or finished beams into item score matrices."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["marginal_item_scores", "items_from_beams", "rerank_beams"]


def marginal_item_scores(log_probs: Tensor, codes: Tensor) -> Tensor:
    """Score every item by one encoder pass with all H target positions masked.

    ``score[u, i] = sum_j log_probs[u, j, codes[i, j]]``: the positions are treated as independent
    given the history. One pass ranks the full catalogue, which is what RecBole's ``predict`` and
    full-sort evaluation need, and it serves as the fallback order behind beam results.

    Args:
        log_probs: ``[U, H, K]`` log-probabilities of the codes at each target position.
        codes: ``LongTensor [n_items, H]`` per-level codes of the catalogue.

    Returns:
        ``[U, n_items]`` scores (dtype of ``log_probs``).
    """
    if log_probs.dim() != 3 or codes.dim() != 2 or codes.shape[1] != log_probs.shape[1]:
        raise ValueError(f"expected log_probs [U, H, K] and codes [n, H]; got {tuple(log_probs.shape)}, {tuple(codes.shape)}")
    users, sid_length, size = log_probs.shape
    flat = log_probs.reshape(users, sid_length * size)  # [U, H*K]
    columns = (codes.to(log_probs.device).long() + torch.arange(sid_length, device=log_probs.device) * size).t()  # [H, n]
    out = flat.index_select(1, columns[0])  # [U, n]
    for j in range(1, sid_length):
        out.add_(flat.index_select(1, columns[j]))  # [U, n]
    return out


def items_from_beams(beam_items: Tensor, beam_scores: Tensor, fallback: Tensor) -> Tensor:
    """Full ``[U, n_items]`` score matrix: beam items first (by beam score), then the rest by ``fallback``.

    Why: RecBole's full-sort evaluation takes the top-k of a dense score matrix and needs at least
    ``max(topk)`` finite scores per user, while beam search only ranks ``B`` items. Recall@K and
    NDCG@K for ``K <= B`` are decided by the beams alone; items outside the beams still get a sane,
    finite order (e.g. marginal scores) so larger cut-offs are meaningful.

    Args:
        beam_items: ``LongTensor [U, B]`` catalogue indices, ``-1`` = empty slot.
        beam_scores: ``[U, B]`` beam log-probs. Slots with a non-finite score are ignored.
        fallback: ``[U, n_items]`` scores ordering the non-beam items (non-finite values are
            replaced by the row's finite minimum minus one, so they rank last).

    Returns:
        ``[U, n_items]`` float tensor, all finite. Beam items keep their score differences, shifted
        above every fallback score of the row; an item present in several beams keeps its best score.
    """
    if beam_items.shape != beam_scores.shape or beam_items.dim() != 2 or fallback.dim() != 2:
        raise ValueError("beam_items and beam_scores must be [U, B] and fallback [U, n_items]")
    if beam_items.shape[0] != fallback.shape[0]:
        raise ValueError("beam_items and fallback disagree on the number of users")
    U, n = fallback.shape
    dtype = fallback.dtype if fallback.is_floating_point() else torch.float32
    f = fallback.to(dtype)  # [U, n]
    finite = torch.isfinite(f)  # [U, n]
    inf = torch.tensor(float("inf"), dtype=dtype, device=f.device)
    fmin = torch.where(finite, f, inf).amin(1, keepdim=True)  # [U, 1]
    fmax = torch.where(finite, f, -inf).amax(1, keepdim=True)  # [U, 1]
    has_finite = finite.any(1, keepdim=True)  # [U, 1]
    fmin = torch.where(has_finite, fmin, torch.zeros_like(fmin))
    fmax = torch.where(has_finite, fmax, torch.zeros_like(fmax))
    out = torch.where(finite, f, fmin - 1)  # [U, n]

    s = beam_scores.to(device=f.device, dtype=dtype)  # [U, B]
    items = beam_items.to(f.device).long()  # [U, B]
    valid = (items >= 0) & (items < n) & torch.isfinite(s)  # [U, B]
    smin = torch.where(valid, s, inf).amin(1, keepdim=True)  # [U, 1]
    smin = torch.where(torch.isfinite(smin), smin, torch.zeros_like(smin))
    lifted = torch.where(valid, fmax + 1 + (s - smin), -inf)  # [U, B], >= fmax + 1 where valid
    buf = torch.full((U, n + 1), float("-inf"), dtype=dtype, device=f.device)  # [U, n+1]; column n = sink
    buf.scatter_reduce_(1, torch.where(valid, items, n), lifted, reduce="amax")  # best copy per item
    buf = buf[:, :n]  # [U, n]
    return torch.where(torch.isfinite(buf), buf, out)  # [U, n]


def rerank_beams(beam_items: Tensor, beam_scores: Tensor, item_scores: Tensor, weight: float) -> Tensor:
    """Beam scores plus ``weight`` times another scorer's score of each beam's item.

    Why: the beams decide which items are candidates (the generative part); a whole-item scorer
    (MaskGR's item-level softmax) can still order them better than the product of token
    probabilities alone.

    Args:
        beam_items: ``LongTensor [U, B]`` catalogue indices, ``-1`` = empty slot (keeps its score).
        beam_scores: ``[U, B]`` beam log-probs.
        item_scores: ``[U, n_items]`` scores of every catalogue item (e.g. log-probs).
        weight: the share of ``item_scores``; 0 returns ``beam_scores`` unchanged.

    Returns:
        ``[U, B]`` combined scores.
    """
    if weight == 0:
        return beam_scores
    gathered = item_scores.gather(1, beam_items.clamp(min=0).long())  # [U, B]
    return torch.where(beam_items >= 0, beam_scores + weight * gathered.to(beam_scores.dtype), beam_scores)
