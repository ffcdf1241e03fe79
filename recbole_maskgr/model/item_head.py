"""An item-level softmax next to MaskGR's token loss (`item_loss_weight`).

The token loss teaches the next item's codes one level at a time; SASRec's strength is a full
softmax over whole items. This head gives MaskGR both: the states of the target slots, all masked
(what the first decoding pass sees), are pooled into one query that scores every catalogue item's
input vector (its SID code sum, plus its ID vector with `item_id_vectors`). It trains the encoder
with the item-level signal and can re-rank the beams (`beam_rerank_weight`) or rank the whole
catalogue in one pass (`valid_decoding` / `test_decoding: item`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def item_logits(query: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
    """query [N, d] against every item vector [n, d] -> [N, n], scaled by 1/sqrt(d) as the token logits."""
    return query @ item_vectors.T / math.sqrt(query.shape[-1])


class ItemHead(nn.Module):
    """Pool the masked target slots, project, score the catalogue."""

    def __init__(self, d_model: int):
        super().__init__()
        self.project = nn.Linear(d_model, d_model)

    def query(self, slot_states: torch.Tensor) -> torch.Tensor:
        """States of the next item's H masked slots [N, H, d] -> one query [N, d]."""
        return self.project(slot_states.mean(1))

    def loss_terms(self, slot_states, item_vectors, targets) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of CE, count) of the target items [N] (RecBole ids >= 1) among the real items, whose
        vectors [n_items - 1, d] start at item 1. Two sums, so chunks add up to the batch's mean."""
        logits = item_logits(self.query(slot_states), item_vectors)  # [N, n_items - 1]
        ce = F.cross_entropy(logits, targets - 1, reduction="sum")
        return ce, torch.tensor(float(targets.numel()), device=ce.device)

    def log_probs(self, slot_states: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        """[N, H, d], [n_items - 1, d] -> log-probs of every real item [N, n_items - 1]."""
        return F.log_softmax(item_logits(self.query(slot_states), item_vectors), dim=-1)
