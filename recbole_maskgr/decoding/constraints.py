"""Catalogue constraints for decoding semantic IDs in any order.

MaskGR fills the H positions of the next item's SID in a data-dependent order, so the set of
already-fixed positions of a beam can be any subset of ``range(H)``. A prefix trie (enough for
left-to-right decoding) cannot answer "which tokens keep an item reachable" for such patterns.
``SIDCatalogue`` answers it exactly with three cheap cases:

* no fixed position: a precomputed ``[H, K]`` usage table;
* one fixed position ``(p, v)``: a precomputed pair table ``co[p, v, j, t]``;
* two or more fixed positions: per fixed-position *pattern* (a subset of positions), the catalogue
  sorted by the key of its codes at those positions; the items consistent with a beam are then
  one contiguous range (two ``searchsorted`` calls), and only those items are scattered. The work
  is proportional to the number of consistent items, not to ``rows x catalogue``.

Codes are per-level (not offset): every entry is in ``[0, K)``; ``-1`` marks a masked position.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["SIDCatalogue", "fits_int64_keys"]


def fits_int64_keys(base: int, digits: int) -> bool:
    """Whether `digits`-digit numbers in base `base` fit the signed 64-bit keys of the sorted lookups."""
    return float(base) ** digits < 2.0**63


# Upper bound on (row, item) pairs materialised at once by ``allowed_tokens`` (memory bound).
_PAIR_BUDGET = 1 << 22
# Upper bound on ``rows x items`` agreement counts materialised at once by ``project``.
_PROJECT_BUDGET = 1 << 24


class SIDCatalogue:
    """The semantic IDs of all items, indexed for constrained decoding.

    Args:
        codes: ``LongTensor [n_items, H]``; row ``i`` is the SID of catalogue index ``i``. Rows must
            be distinct (a SID must identify one item) and entries in ``[0, K)``.
        K: codebook size per position.

    The tables live on ``codes.device``; queries must be on the same device.
    """

    def __init__(self, codes: Tensor, K: int) -> None:
        if codes.dim() != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
            raise ValueError(f"codes must be a non-empty [n_items, H] tensor, got shape {tuple(codes.shape)}")
        if K < 1:
            raise ValueError(f"K must be >= 1, got {K}")
        codes = codes.long().contiguous()
        if bool((codes < 0).any()) or bool((codes >= K).any()):
            raise ValueError(f"codes must lie in [0, K={K})")
        n, H = codes.shape
        if not fits_int64_keys(K, H):
            raise ValueError(f"K**H = {K}**{H} does not fit an int64 key; use fewer levels or a smaller K")
        self.codes = codes  # [n, H]
        self.K = int(K)
        self.H = int(H)
        self.n_items = int(n)
        device = codes.device
        self._radix = self.K ** torch.arange(H, device=device, dtype=torch.long)  # [H]

        # Exact lookup: sorted full keys.
        keys = codes @ self._radix  # [n]
        self._full_keys, self._full_perm = torch.sort(keys)  # [n], [n]
        if bool((self._full_keys[1:] == self._full_keys[:-1]).any()):
            raise ValueError("codes contains duplicate SIDs; every item needs a distinct tuple")

        # No fixed position: which tokens occur at each position.
        pos = torch.arange(H, device=device)
        self.usage = torch.zeros(H, K, dtype=torch.bool, device=device)  # [H, K]
        self.usage[pos.expand(n, H), codes] = True

        # One fixed position: co[p, v, j, t] = some item has code v at p and code t at j.
        co = torch.zeros(H, K, H, K, dtype=torch.bool, device=device)  # [H, K, H, K]
        for p in range(H):
            for j in range(H):
                co[p, codes[:, p], j, codes[:, j]] = True
        self._co = co.view(H * K, H, K)  # [H*K, H, K]

        # Two or more fixed positions: per-pattern sorted keys, built lazily (at most 2**H).
        self._pattern_cache: dict[int, tuple[Tensor, Tensor]] = {}

    # ------------------------------------------------------------------ helpers
    def _check(self, x: Tensor, name: str) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.H:
            raise ValueError(f"{name} must be [M, H={self.H}], got shape {tuple(x.shape)}")
        return x.long()

    def _pattern_index(self, pattern: int) -> tuple[Tensor, Tensor]:
        """Sorted keys over the positions in ``pattern`` and the codes in that order (cached)."""
        hit = self._pattern_cache.get(pattern)
        if hit is None:
            positions = [j for j in range(self.H) if pattern >> j & 1]
            radix = self._radix[: len(positions)]  # [f]
            keys = self.codes[:, positions] @ radix  # [n]
            sorted_keys, perm = torch.sort(keys)  # [n], [n]
            hit = (sorted_keys, self.codes[perm].contiguous())  # [n], [n, H]
            self._pattern_cache[pattern] = hit
        return hit

    # ------------------------------------------------------------------ queries
    def allowed_tokens(self, fixed: Tensor) -> Tensor:
        """Tokens that keep at least one catalogue item consistent with each partial SID.

        Args:
            fixed: ``LongTensor [M, H]``; ``-1`` = masked, otherwise the fixed code.

        Returns:
            ``BoolTensor [M, H, K]``: ``out[m, j, t]`` is True iff some item agrees with every fixed
            position of row ``m`` and has code ``t`` at position ``j``. The same definition applies
            to fixed positions: they allow only their own value, and a row whose fixed positions
            match no item is all False.
        """
        fixed = self._check(fixed, "fixed")
        if bool((fixed < -1).any()) or bool((fixed >= self.K).any()):
            raise ValueError(f"fixed entries must be -1 or in [0, K={self.K})")
        M, H, K = fixed.shape[0], self.H, self.K
        out = torch.zeros(M, H, K, dtype=torch.bool, device=fixed.device)  # [M, H, K]
        if M == 0:
            return out
        is_fixed = fixed >= 0  # [M, H]
        n_fixed = is_fixed.sum(1)  # [M]

        rows = (n_fixed == 0).nonzero().squeeze(1)
        if rows.numel():
            out[rows] = self.usage

        rows = (n_fixed == 1).nonzero().squeeze(1)
        if rows.numel():
            p = is_fixed[rows].long().argmax(1)  # [R]
            v = fixed[rows, p]  # [R]
            out[rows] = self._co[p * K + v]  # [R, H, K]

        rows = (n_fixed >= 2).nonzero().squeeze(1)
        if rows.numel():
            bits = 1 << torch.arange(H, device=fixed.device)  # [H]
            pattern = (is_fixed[rows].long() * bits).sum(1)  # [R]
            for pat in torch.unique(pattern).tolist():  # at most 2**H patterns
                r = rows[pattern == pat]  # [R_p]
                positions = [j for j in range(H) if pat >> j & 1]
                sorted_keys, sorted_codes = self._pattern_index(pat)
                q = fixed[r][:, positions] @ self._radix[: len(positions)]  # [R_p]
                lo = torch.searchsorted(sorted_keys, q)  # [R_p]
                hi = torch.searchsorted(sorted_keys, q, right=True)  # [R_p]
                self._scatter_ranges(out, r, lo, hi, sorted_codes)
        return out

    def _scatter_ranges(self, out: Tensor, rows: Tensor, lo: Tensor, hi: Tensor, sorted_codes: Tensor) -> None:
        """Mark the codes of items ``sorted_codes[lo[i]:hi[i]]`` in ``out[rows[i]]``, in bounded chunks."""
        H, K = self.H, self.K
        counts = hi - lo  # [R]
        ends = torch.cumsum(counts, 0)  # [R]
        total = int(ends[-1])
        if total == 0:
            return
        # Split rows so that each chunk expands to at most ~_PAIR_BUDGET pairs (one row may exceed it).
        bounds = [0, len(rows)]
        if total > _PAIR_BUDGET:
            marks = torch.arange(_PAIR_BUDGET, total, _PAIR_BUDGET, device=ends.device)  # [c]
            cuts = (torch.searchsorted(ends, marks) + 1).clamp(max=len(rows))  # [c]
            bounds = [0, *sorted(set(cuts.tolist())), len(rows)]
        pos = torch.arange(H, device=out.device)  # [H]
        flat = out.view(-1)
        for a, b in zip(bounds[:-1], bounds[1:]):
            if a >= b:
                continue
            c = counts[a:b]  # [r]
            row_of_pair = torch.repeat_interleave(torch.arange(b - a, device=out.device), c)  # [T]
            start = torch.repeat_interleave(lo[a:b] - (torch.cumsum(c, 0) - c), c)  # [T]
            item_pos = start + torch.arange(row_of_pair.numel(), device=out.device)  # [T]
            item_codes = sorted_codes[item_pos]  # [T, H]
            idx = (rows[a:b][row_of_pair, None] * H + pos) * K + item_codes  # [T, H]
            flat[idx.view(-1)] = True

    def lookup(self, full: Tensor) -> Tensor:
        """Catalogue index of each exact SID tuple, or -1 (also for tuples with masked/out-of-range codes)."""
        full = self._check(full, "full")
        valid = ((full >= 0) & (full < self.K)).all(1)  # [M]
        keys = full.clamp(0, self.K - 1) @ self._radix  # [M]
        idx = torch.searchsorted(self._full_keys, keys).clamp(max=self.n_items - 1)  # [M]
        found = valid & (self._full_keys[idx] == keys)  # [M]
        return torch.where(found, self._full_perm[idx], torch.full_like(idx, -1))  # [M]

    def project(self, full: Tensor) -> Tensor:
        """Catalogue index agreeing with each tuple in the most positions (ties -> lowest index).

        This is the reference code's repair of invalid generated SIDs. Exact matches are resolved by
        ``lookup``; only the misses pay the ``rows x catalogue`` comparison, in bounded chunks.
        """
        full = self._check(full, "full")
        result = self.lookup(full)  # [M]
        miss = (result < 0).nonzero().squeeze(1)  # [R]
        if miss.numel() == 0:
            return result
        chunk = max(1, _PROJECT_BUDGET // self.n_items)
        for a in range(0, miss.numel(), chunk):
            rows = miss[a : a + chunk]  # [r]
            q = full[rows]  # [r, H]
            agree = torch.zeros(rows.numel(), self.n_items, dtype=torch.int16, device=full.device)  # [r, n]
            for j in range(self.H):
                agree += self.codes[:, j] == q[:, j, None]  # [r, n]
            result[rows] = agree.argmax(1)  # first maximum = lowest index
        return result

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        return f"SIDCatalogue(n_items={self.n_items}, H={self.H}, K={self.K})"
