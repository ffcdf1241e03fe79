"""An item-level softmax next to MaskGR's token loss (`item_loss_weight`).

The token loss teaches the next item's codes one level at a time; SASRec's strength is a full
softmax over whole items. This head gives MaskGR both: the states of the target slots, all masked
(what the first decoding pass sees), are pooled into one query that scores every catalogue item's
input vector (its SID code sum, plus its ID vector with `item_id_vectors`). It trains the encoder
with the item-level signal and can re-rank the beams (`beam_rerank_weight`) or rank the whole
catalogue in one pass (`valid_decoding` / `test_decoding: item`). Training scores the target
against every item (a full softmax, SASRec's) or against `item_negatives` items drawn uniformly
once per batch (a sampled softmax, eSASRec's; the target's own copies among them are left out).
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

    def loss_terms(self, slot_states, targets, target_vectors, candidates, candidate_vectors):
        """(sum of CE, count) of each row's target against the candidate items; two sums, so chunks
        add up to the batch's mean.

        slot_states [N, H, d]; targets [N] item ids with their vectors [N, d]; candidates [M] item
        ids with their vectors [M, d] (every item: the full softmax; a sample: the sampled one). A
        candidate equal to the row's target is left out, so the full softmax is exact.
        """
        query = self.query(slot_states)  # [N, d]
        positive = (query * target_vectors).sum(-1, keepdim=True) / math.sqrt(query.shape[-1])  # [N, 1]
        others = item_logits(query, candidate_vectors)  # [N, M]
        others = others.masked_fill(candidates[None, :] == targets[:, None], float("-inf"))  # [N, M]
        logits = torch.cat([positive, others], dim=1)  # [N, 1 + M]; the target is column 0
        ce = -F.log_softmax(logits, dim=1)[:, 0].sum()
        return ce, torch.tensor(float(targets.numel()), device=ce.device)

    def log_probs(self, slot_states: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        """[N, H, d], [n_items - 1, d] -> log-probs of every real item [N, n_items - 1]."""
        return F.log_softmax(item_logits(self.query(slot_states), item_vectors), dim=-1)
