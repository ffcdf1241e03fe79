"""Masked (absorbing-state) diffusion over SID tokens: noising, the ELBO-weighted loss, layouts.

Pure functions on tensors so tests can check them by hand, without RecBole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_noise_level(batch: int, t_min: float, device, generator=None) -> torch.Tensor:
    """t ~ U(t_min, 1) per sequence; t_min > 0 bounds the 1/t weight."""
    u = torch.rand(batch, device=device, generator=generator)  # [B]
    return t_min + (1.0 - t_min) * u


def mask_tokens(tokens, maskable, t, mask_id: int, generator=None):
    """Replace each maskable token by `mask_id` independently with probability t (its sequence's).

    tokens [B, L], maskable [B, L] bool, t [B] -> (noised [B, L], masked [B, L] bool)
    """
    draw = torch.rand(tokens.shape, device=tokens.device, generator=generator)  # [B, L]
    masked = (draw < t[:, None]) & maskable  # [B, L]
    return torch.where(masked, torch.full_like(tokens, mask_id), tokens), masked


def mask_whole_items(tokens, maskable, t, mask_id: int, sid_length: int, rows, generator=None):
    """Like `mask_tokens`, but in `rows` [B] bool one draw per item masks all its `sid_length` tokens.

    Token-level masking mostly asks for a code given the same item's other codes (easy: SIDs are
    nearly determined by any H-1 of their digits); item-level masking asks for whole items from
    the others, which is the inference task. tokens [B, L] with L = n*sid_length.
    """
    batch, length = tokens.shape
    draw = torch.rand(batch, length // sid_length, device=tokens.device, generator=generator)  # [B, n]
    whole = (draw < t[:, None]).repeat_interleave(sid_length, dim=1)  # [B, L]
    single = torch.rand(tokens.shape, device=tokens.device, generator=generator) < t[:, None]  # [B, L]
    masked = torch.where(rows[:, None], whole, single) & maskable  # [B, L]
    return torch.where(masked, torch.full_like(tokens, mask_id), tokens), masked


def force_mask(noised, masked, positions, mask_id: int):
    """Also mask `positions` [B, L] bool (e.g. the whole target item) on top of random masking."""
    masked = masked | positions  # [B, L]
    return torch.where(positions, torch.full_like(noised, mask_id), noised), masked


def mask_target_only(tokens, maskable, t, mask_id: int, sid_length: int, generator=None):
    """Clean-history rows: only the newest item's `sid_length` tokens may be masked, each with probability t.

    The history stays clean, as the prompt does in LLaDA's fine-tuning: the rows practise exactly
    the inference task (history given, the next item partly or wholly masked).
    tokens [B, L], maskable [B, L] bool (real tokens), t [B] -> (noised [B, L], masked [B, L] bool)
    """
    target = torch.zeros_like(maskable)
    target[:, -sid_length:] = True
    return mask_tokens(tokens, maskable & target, t, mask_id, generator)


def diffusion_loss_terms(logits, targets, masked, weights):
    """(sum(w * CE), sum(w)) over masked positions; w is the per-sequence ELBO weight (1/t).

    Kept as two sums so that chunks of a batch combine into the batch's exact loss.
    logits [B, L, K], targets [B, L] (codes in [0, K)), masked [B, L] bool, weights [B].
    """
    ce = F.cross_entropy(logits[masked], targets[masked], reduction="none")  # [N]
    w = weights[:, None].expand_as(masked)[masked]  # [N]
    return (w * ce).sum(), w.sum()


def weighted_mean(numerator, denominator):
    """numerator / denominator, or 0 (with the graph) when nothing was masked: never NaN."""
    return numerator / denominator if denominator > 0 else numerator * 0.0


def mix_objectives(terms: torch.Tensor, clean_share: float) -> torch.Tensor:
    """(1 - a) * L_paper + a * L_clean with a = `clean_share`, each part a weighted mean of its own tokens.

    terms [2, 2]: rows (paper rows, clean-history rows), columns (sum(w * CE), sum(w)). A shared
    token-count mean would let the paper rows (every token maskable) drown the clean rows (H tokens).
    A part with no masked token contributes 0.
    """
    paper = weighted_mean(terms[0, 0], terms[0, 1])
    clean = weighted_mean(terms[1, 0], terms[1, 1])
    return (1.0 - clean_share) * paper + clean_share * clean


def diffusion_loss(logits, targets, masked, weights):
    """sum(w * CE) / sum(w) over masked positions; w is the per-sequence ELBO weight (1/t).

    logits [B, L, K], targets [B, L] (codes in [0, K)), masked [B, L] bool, weights [B].
    Returns 0 (with a graph) when nothing is masked, so a batch can never produce NaN.
    """
    return weighted_mean(*diffusion_loss_terms(logits, targets, masked, weights))


def right_align(items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move each row's first `lengths` entries to the right end, zero-padding on the left.

    items [B, T] left-aligned, lengths [B] -> [B, T]
    """
    width = items.shape[1]
    shift = width - lengths  # [B]
    source = torch.arange(width, device=items.device)[None, :] - shift[:, None]  # [B, T]
    gathered = items.gather(1, source.clamp(min=0))  # [B, T]
    return torch.where(source >= 0, gathered, torch.zeros_like(gathered))


def items_to_tokens(items, item_sid, codebook_size: int, pad_id: int):
    """Item ids [B, T] -> SID tokens [B, T*H] with level l's codes at l*K + code; padding -> pad_id.

    Returns (tokens [B, T*H], codes [B, T*H] per-level codes in [0, K), real [B, T*H] bool).
    """
    batch, width = items.shape
    sid_length = item_sid.shape[1]
    codes = item_sid[items]  # [B, T, H]
    offsets = torch.arange(sid_length, device=items.device) * codebook_size  # [H]
    tokens = codes + offsets  # [B, T, H]
    real = (items > 0)[:, :, None].expand(batch, width, sid_length)  # [B, T, H]
    tokens = torch.where(real, tokens, torch.full_like(tokens, pad_id))
    return tokens.reshape(batch, -1), codes.reshape(batch, -1), real.reshape(batch, -1)
