"""MaskGR's decoding: the history encoded once per user, then passes over the target slots only.

What to decode comes in a `DecodingSpec` (the model's own per phase, or a caller's variant).
Modes (`valid_decoding` / `test_decoding`): `beam` (masked beam search over unmasking steps),
`marginal` (one pass, items scored by their codes' log-probs), `dense` (one pass, the catalogue's
nearest neighbours of the dense-retrieval head's query; `dense_retrieval: True`), `item` (one pass,
the item-level softmax; `item_loss_weight` > 0). With the item head, beams can be re-ranked by it
(`beam_rerank_weight`) and the items after the beams are ordered by it. With `next_k` > 1
the k items are decoded jointly (`decode_next_items`); RecBole's ranking then lists the first items.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recbole_maskgr.decoding import items_from_beams, marginal_item_scores, masked_beam_search, rerank_beams
from recbole_maskgr.decoding.joint import JointCatalogue
from recbole_maskgr.decoding.spec import DecodingSpec
from recbole_maskgr.model.base import sid_log_likelihood

DECODING_MODES = ("beam", "marginal", "dense", "item")


class MaskGRDecoding:
    """Mixed into MaskGR (which provides the encoder, the SID table and the slot layout)."""

    def _decoding_context(self, interaction) -> dict:
        """What every decoding pass of these users shares, computed once.

        With `history_attention: history_only` the history's states do not depend on the target
        slots: its per-layer keys/values are cached here and each pass runs only the target slots.
        """
        history_inputs, history_real = self._encode_history(interaction)  # [U, T'] each
        context = {"users": history_real.shape[0], "real": history_real}
        embedded = self._embed_history(history_inputs)  # [U, T', d]
        if self.history_attention == "history_only":
            context["memory"] = self.encoder.encode_prefix(embedded, history_real, self.slots)  # per layer KV
        else:
            context["embedded"] = embedded
        return context

    def _target_states(self, context: dict, user_index, target, layer_states: list | None = None) -> torch.Tensor:
        """One pass: states [N, S, d] of the target slots (-1 in target [N, S] = masked)."""
        masked_slot = torch.full_like(target, self.mask_id)
        target_tokens = torch.where(target >= 0, self._code_tokens(target), masked_slot)  # [N, S]
        if "memory" in context:
            history = [(k[user_index], v[user_index]) for k, v in context["memory"]]  # [N, h, T', hd] x2 per layer
        else:
            history = context["embedded"][user_index]  # [N, T', d]
        return self(history, context["real"][user_index], target_tokens, layer_states=layer_states)  # [N, S, d]

    def _slot_log_probs(self, states: torch.Tensor) -> torch.Tensor:
        """Target slot states [N, S, d] -> log-probs [N, S, K] of each slot's level codes."""
        return F.log_softmax(self._slot_logits(states), dim=-1)

    def _target_log_probs(self, context: dict, user_index, target) -> torch.Tensor:
        """One pass: log-probs [N, S, K] of the target items' codes (-1 in target = masked)."""
        return self._slot_log_probs(self._target_states(context, user_index, target))

    def _all_masked_states(self, context: dict, layer_states: list | None = None) -> torch.Tensor:
        """The pass with every target slot masked: states [U, S, d] (and each block's into layer_states)."""
        users = torch.arange(context["users"], device=self.item_sid.device)  # [U]
        all_masked = torch.full((context["users"], self.slots), -1, dtype=torch.long, device=users.device)
        return self._target_states(context, users, all_masked, layer_states)  # [U, S, d]

    def _one_pass(self, interaction):
        """The all-masked pass from scratch: (states [U, S, d], log-probs [U, S, K])."""
        states = self._all_masked_states(self._decoding_context(interaction))  # [U, S, d]
        return states, self._slot_log_probs(states)

    def predict(self, interaction):
        """Score the given items by their tokens' log-probs (the next item's slots) in one pass."""
        log_probs = self._one_pass(interaction)[1][:, : self.sid_length]  # [B, H, K]
        codes = self.item_sid[interaction[self.ITEM_ID]]  # [B, H]
        return sid_log_likelihood(log_probs, codes)  # [B]

    def _decoding_tables(self) -> dict:
        """The item head's output table (every item's input vector), built once per call."""
        return {} if self.item_head is None else {"catalogue": self.catalogue_vectors()}  # [n_items-1, d]

    def _rank_items(self, interaction, tables, spec: DecodingSpec):
        """Beam (or nearest-neighbour) items first, the rest by one-pass likelihood (or all one-pass)."""
        if spec.mode == "beam":
            return self._beam_ranking(interaction, tables, spec)
        context = self._decoding_context(interaction)
        blocks = [] if spec.mode == "dense" else None  # each block's slot states, for the dense head
        states = self._all_masked_states(context, blocks)  # [U, S, d]
        if spec.mode == "item":  # the item head, plus (marginal_weight) the token-level one-pass likelihood
            scores = self._item_scores(states, tables)  # [U, n_items-1]
            if spec.marginal_weight:
                scores = scores + spec.marginal_weight * self._marginal_scores(self._slot_log_probs(states))
            return scores, len(scores)
        fallback = self._marginal_scores(self._slot_log_probs(states))  # [U, n_items-1]
        if spec.mode == "marginal":
            return fallback, fallback.shape[0]
        query_states = self.dense_input(states, blocks)[:, : self.sid_length]  # [U, H, d]
        neighbours, cosines = self.dense.nearest_items(query_states, spec.beam_width)  # [U, B] each
        return items_from_beams(neighbours, cosines, fallback), fallback.shape[0]

    def _marginal_scores(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Every real item's one-pass log-likelihood of its codes: slot log-probs [U, S, K] -> [U, n_items-1]."""
        return marginal_item_scores(log_probs[:, : self.sid_length], self.item_sid[1:])

    def _item_scores(self, states: torch.Tensor, tables: dict | None = None) -> torch.Tensor:
        """The item head's log-probs of every real item from the all-masked slots' states: [U, n_items-1]."""
        catalogue = tables["catalogue"] if tables else self.catalogue_vectors()  # [n_items-1, d]
        return self.item_head.log_probs(states[:, : self.sid_length], catalogue)

    def _joint_beams(self, interaction, spec: DecodingSpec):
        """Masked beam search over the S target slots: (items, BeamResult, the first pass's
        states [U, S, d] and log-probs [U, S, K])."""
        if spec.next_k != self.next_k:  # the target slots are part of the trained layout
            raise ValueError(f"this model decodes next_k={self.next_k} items, the spec asks for {spec.next_k}")
        context = self._decoding_context(interaction)
        first_pass = {}

        def log_prob_fn(user_index, target):
            states = self._target_states(context, user_index, target)  # [N, S, d]
            log_probs = self._slot_log_probs(states)  # [N, S, K]
            first_pass.setdefault("states", states)  # one beam per user, all masked
            first_pass.setdefault("log_probs", log_probs)
            return log_probs

        catalogue = self.catalogue if self.next_k == 1 else JointCatalogue(self.catalogue, self.next_k)
        result = masked_beam_search(
            log_prob_fn,
            n_users=context["users"],
            H=self.slots,
            K=self.codebook_size,
            beam_width=spec.beam_width,
            steps=spec.schedule * self.next_k,  # each item's schedule, item after item
            order=spec.order,
            catalogue=catalogue,
            invalid=spec.invalid_sid,
        )
        items = result.items[..., None] if self.next_k == 1 else catalogue.unpack(result.items)  # [U, B, k]
        return items, result, first_pass

    def decode_next_items(self, interaction, spec: DecodingSpec | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The next `next_k` items, decoded jointly (by `spec`, else the test phase's beams):
        (item ids [U, B, k], 0 = empty; scores [U, B])."""
        items, result, _ = self._joint_beams(interaction, spec or self.specs["test"])
        return self.item_ids(items), result.scores

    def _beam_ranking(self, interaction, tables, spec: DecodingSpec):
        items, result, first_pass = self._joint_beams(interaction, spec)
        if self.item_head is None:
            fallback = self._marginal_scores(first_pass["log_probs"])  # [U, n_items-1]
            return items_from_beams(items[..., 0], result.scores, fallback), result.rows
        item_scores = self._item_scores(first_pass["states"], tables)  # [U, n_items-1]
        scores = rerank_beams(items[..., 0], result.scores, item_scores, spec.rerank_weight)  # [U, B]
        return items_from_beams(items[..., 0], scores, item_scores), result.rows
