"""Next-k decoding: the SIDs of the next k items side by side (k x H positions), decoded jointly
by the masked beam search as if they were one longer SID.

Each item's H positions are constrained by the catalogue on their own; a tuple names k catalogue
items, packed into one index (item_0 * n^(k-1) + ... + item_{k-1}) so that the search's item
bookkeeping (lookup, de-duplication) works unchanged. A tuple naming one item twice is refused
(lookup -1), so the search never returns such a pair.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .constraints import SIDCatalogue, fits_int64_keys


# Largest next_k the settings accept: tuples of k items are packed into one int64 index, and at k = 4
# that still holds catalogues of 55,108 items (every shipped dataset); each further item also adds H
# target slots to train and decode jointly.


class JointCatalogue:
    """k catalogue items in a row, for `masked_beam_search` over k * H positions."""

    def __init__(self, catalogue: SIDCatalogue, k: int) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not fits_int64_keys(catalogue.n_items, k):
            raise ValueError(f"{catalogue.n_items}**{k} item tuples do not fit an int64 index; lower k")
        self.base, self.k = catalogue, int(k)
        self.H, self.K = catalogue.H * self.k, catalogue.K
        self.codes = catalogue.codes  # where the tables live (the search keeps its state there)
        self.n_items = catalogue.n_items**self.k
        self._radix = catalogue.n_items ** torch.arange(self.k - 1, -1, -1, device=self.codes.device)  # [k]

    def _per_item(self, tokens: Tensor) -> Tensor:
        """[N, k*H] -> [N*k, H]: one row per item."""
        return tokens.reshape(-1, self.base.H)

    def allowed_tokens(self, fixed: Tensor) -> Tensor:
        """Each item's positions constrained by its own fixed codes: [L, k*H] -> [L, k*H, K] bool."""
        return self.base.allowed_tokens(self._per_item(fixed)).view(fixed.shape[0], self.H, self.K)

    def _pack(self, items: Tensor) -> Tensor:
        """items [N, k] catalogue indices -> one index per tuple; -1 if an item is missing or repeated."""
        missing = (items < 0).any(1)  # [N]
        repeated = (items[:, :, None] == items[:, None, :]).sum((1, 2)) > self.k  # [N]; diagonal = k
        packed = items.clamp(min=0) @ self._radix  # [N]
        return torch.where(missing | repeated, torch.full_like(packed, -1), packed)

    def lookup(self, full: Tensor) -> Tensor:
        return self._pack(self.base.lookup(self._per_item(full)).view(-1, self.k))

    def project(self, full: Tensor) -> Tensor:
        return self._pack(self.base.project(self._per_item(full)).view(-1, self.k))

    def unpack(self, packed: Tensor) -> Tensor:
        """Packed tuple indices [...] -> catalogue indices [..., k] (-1 stays -1 in every slot)."""
        n = self.base.n_items
        digits = (packed.clamp(min=0)[..., None] // self._radix) % n  # [..., k]
        return torch.where(packed[..., None] >= 0, digits, torch.full_like(digits, -1))

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        return f"JointCatalogue(k={self.k}, {self.base!r})"
