"""MaskGR's dense-retrieval variant (the paper's extension; maskgr-spec.md section 5).

Item text embeddings (the SID tokenizer's) enter the encoder: projected to the model width and added
to every history item's input vector. An auxiliary head maps the states of the target's H masked
slots to the text-embedding space, trained with an in-catalogue softmax over cosine similarities
(temperature 0.1). At inference, one pass with the target masked gives a query vector, and the
catalogue's nearest neighbours (faiss, inner product of unit vectors) are the recommendations.

The head reads the last layer's states (`dense_layer: 0`), or, as the reference does, an
intermediate block's (`dense_layer: k`, through a LayerNorm of its own: the residual stream before
the encoder's final norm); either way averaged over the H slots.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def catalogue_contrastive_loss(query: torch.Tensor, catalogue: torch.Tensor, target: torch.Tensor,
                               temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of CE, count) of the target among all catalogue items by cosine / temperature.

    query [N, D] and catalogue [n, D] unit vectors, target [N] catalogue indices. Two sums, so that
    chunks of a batch add up to the batch's mean.
    """
    logits = query @ catalogue.T / temperature  # [N, n]
    ce = F.cross_entropy(logits, target, reduction="sum")
    return ce, torch.tensor(float(target.numel()), device=query.device)


class DenseRetrieval(nn.Module):
    """Text vectors in (added to history items) and out (the head to the text space)."""

    def __init__(self, text_vectors: torch.Tensor, d_model: int, temperature: float, reads_intermediate: bool = False):
        super().__init__()
        unit = F.normalize(text_vectors.float(), dim=-1)  # [n_items, D]; row 0 (padding) stays 0
        self.register_buffer("text", unit, persistent=False)  # rebuilt from the dataset on load
        width = unit.shape[1]
        self.project_in = nn.Linear(width, d_model, bias=False)
        self.norm_in = nn.LayerNorm(d_model) if reads_intermediate else nn.Identity()  # the last layer's is normed
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, width))
        self.temperature = float(temperature)
        self._index = None

    def history_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """items [N, T] -> [N, T, d] projected text vectors (0 for padding: its text row is 0)."""
        return self.project_in(self.text[items])

    def query(self, target_states: torch.Tensor) -> torch.Tensor:
        """States of the target's H slots [N, H, d] -> unit query vectors [N, D]."""
        return F.normalize(self.head(self.norm_in(target_states).mean(1)), dim=-1)

    def loss_terms(self, target_states: torch.Tensor, target_items: torch.Tensor):
        """(sum of CE, count) of the target items [N] (ids >= 1) among the real items."""
        query = self.query(target_states)  # [N, D]
        return catalogue_contrastive_loss(query, self.text[1:], target_items - 1, self.temperature)

    def nearest_items(self, target_states: torch.Tensor, n_neighbours: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The n_neighbours catalogue items closest to each query: (indices [N, n] into items 1.., cosines)."""
        import faiss

        if self._index is None:
            catalogue = self.text[1:].detach().cpu().numpy().astype(np.float32)  # [n, D]
            self._index = faiss.IndexFlatIP(catalogue.shape[1])
            self._index.add(catalogue)
        query = self.query(target_states).detach().cpu().numpy().astype(np.float32)  # [N, D]
        cosines, indices = self._index.search(query, min(n_neighbours, self._index.ntotal))
        device = target_states.device
        return torch.from_numpy(indices).to(device), torch.from_numpy(cosines).to(device)
