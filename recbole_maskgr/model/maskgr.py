"""MaskGR: masked discrete diffusion over semantic-ID sequences (Shah et al., arXiv 2511.23021).

A user's history of n items is H*n SID tokens; a bidirectional encoder learns to fill masked
tokens. Recommending = appending H mask tokens and unmasking them by beam search (decoding is in
`maskgr_decoding.py`). Options: the next k items as k*H target slots (`next_k`), and the paper's
dense-retrieval extension (`dense_retrieval`, `dense.py`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from recbole_maskgr.model.base import SIDGenerativeRecommender, tied_level_logits
from recbole_maskgr.model.dense import DenseRetrieval
from recbole_maskgr.model.diffusion import (
    diffusion_loss_terms,
    force_mask,
    items_to_tokens,
    mask_target_only,
    mask_tokens,
    mask_whole_items,
    mix_objectives,
    sample_noise_level,
    weighted_mean,
)
from recbole_maskgr.model.item_head import ItemHead
from recbole_maskgr.model.maskgr_decoding import DECODING_MODES, MaskGRDecoding
from recbole_maskgr.model.maskgr_settings import (
    check_decode_steps,
    check_dense_and_next_k,
    check_diffusion_settings,
    check_item_level_settings,
)


class MaskGR(MaskGRDecoding, SIDGenerativeRecommender):
    decoding_modes = DECODING_MODES
    non_finite_hint = "Lower learning_rate or raise mask_t_min (tiny noise levels weigh the loss by 1/t)"

    def __init__(self, config, dataset):
        super().__init__(config, dataset)  # runs check_config: the rules the early input checks apply
        self.mask_id = self.special_id
        self.t_min = float(config["mask_t_min"])
        self.target_mask_prob = float(config["target_mask_prob"])
        self.item_mask_prob = float(config["item_mask_prob"])
        self.clean_history_share = float(config["clean_history_share"])
        self.history_tokens = config["history_tokens"]
        self.loss_weight = config["loss_weight"]
        self.history_attention = config["history_attention"]
        self.train_chunk_sequences = int(config["train_chunk_sequences"])
        self.next_k = int(config["next_k"])
        self.slots = self.next_k * self.depth  # target slots: the next k items' H tokens each
        if self.history_tokens == "items":  # one input vector per history item, then the target slots
            max_tokens = self.max_seq_length + self.slots
        else:  # H tokens per item, history and target alike
            max_tokens = (self.max_seq_length + self.next_k) * self.depth
        self.encoder = self._history_encoder(config, max_tokens)
        self.dense = None
        if config["dense_retrieval"]:
            self.dense = DenseRetrieval(dataset.item_text_vectors, self.hidden_size, config["dense_temperature"])
            self.dense_every, self.dense_loss_weight = int(config["dense_every"]), float(config["dense_loss_weight"])
        self.training_steps = 0  # dense steps are every dense_every-th
        # hybrid input: a learned vector per item next to its SID code sum (memorises what SIDs share)
        self.item_id_emb = nn.Embedding(self.n_items, self.hidden_size) if config["item_id_vectors"] else None
        self.item_loss_weight = float(config["item_loss_weight"])
        self.item_negatives = int(config["item_negatives"])
        self.token_loss_weight = float(config["token_loss_weight"])
        self.item_head = ItemHead(self.hidden_size) if self.item_loss_weight > 0 else None
        self.apply(self._init_weights)

    @classmethod
    def check_config(cls, config) -> None:
        super().check_config(config)
        check_decode_steps(config)
        check_diffusion_settings(config)
        check_dense_and_next_k(config)
        check_item_level_settings(config)

    # ----- inputs ---------------------------------------------------------------------------
    def _code_tokens(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-level codes [..., k*H] (k items side by side) -> token ids (level l's codes start at l*K)."""
        offsets = (torch.arange(codes.shape[-1], device=codes.device) % self.depth) * self.codebook_size  # [k*H]
        return codes + offsets

    def _item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """One vector per item: its H code embeddings (the tied table) summed / sqrt(H); padding -> 0.

        With a clean history nothing inside a history item is ever masked, so its H tokens can
        enter the encoder as one position: H times fewer history positions to run. With
        `item_id_vectors` the item's own vector joins: (code sum / sqrt(H) + ID vector) / sqrt(2).
        items [N, T] -> [N, T, d]
        """
        vectors = self.encoder.token_emb(self._code_tokens(self.item_sid[items])).sum(2)  # [N, T, d]
        real = (items > 0)[..., None]  # [N, T, 1]
        vectors = vectors * real / math.sqrt(self.depth)
        if self.item_id_emb is not None:
            vectors = (vectors + self.item_id_emb(items) * real) / math.sqrt(2.0)  # [N, T, d]
        return vectors if self.dense is None else vectors + self.dense.history_vectors(items)  # [N, T, d]

    def _encode_history(self, interaction):
        """History inputs for decoding: SID tokens [U, T*H], or item ids [U, T] (`history_tokens: items`)."""
        if self.history_tokens == "items":
            history = self._history_items(interaction)  # [U, T]
            return history, history > 0
        return super()._encode_history(interaction)

    def _embed_history(self, history_inputs: torch.Tensor) -> torch.Tensor:
        if self.history_tokens == "items":
            return self._item_vectors(history_inputs)  # [N, T, d]
        return self.encoder.token_emb(history_inputs)  # [N, T*H, d]

    @property
    def _slots_see_only_history(self) -> int:
        """The encoder's `suffix`: the target slots when the history attends only to itself, else 0."""
        return self.slots if self.history_attention == "history_only" else 0

    def _with_target_slots(self, history_real: torch.Tensor) -> torch.Tensor:
        """The key mask of history + S target slots (always real): [N, T'] -> [N, T'+S]."""
        slots = history_real.new_ones(history_real.shape[0], self.slots)  # [N, S]
        return torch.cat([history_real, slots], dim=1)

    def _slot_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Target slot states [N, k*H, d] -> logits [N, k*H, K], each item's H slots on its levels."""
        per_item = states.reshape(-1, self.depth, states.shape[-1])  # [N*k, H, d]
        return tied_level_logits(per_item, self._code_emb()).reshape(states.shape[0], -1, self.codebook_size)

    def _item_candidates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The items the item head's loss scores each target against this batch, with their vectors:
        every real item (`item_negatives: 0`), or that many drawn uniformly. ids [M], vectors [M, d]."""
        device = self.item_sid.device
        if self.item_negatives == 0:
            return torch.arange(1, self.n_items, device=device), self.catalogue_vectors()
        ids = torch.randint(1, self.n_items, (self.item_negatives,), device=device)  # [M]
        return ids, self._item_vectors(ids[None])[0]

    def catalogue_vectors(self) -> torch.Tensor:
        """Every real item's input vector, the item head's output table: [n_items - 1, d]."""
        items = torch.arange(1, self.n_items, device=self.item_sid.device)  # [n-1]
        return self._item_vectors(items[None])[0]

    def _slot_states(self, history_embedded, history_real, target_tokens) -> torch.Tensor:
        """One encoder pass over an embedded history and the S target slots -> the slots' states.

        history_embedded [N, T', d], history_real [N, T'] bool, target_tokens [N, S] -> [N, S, d]
        """
        inputs = torch.cat([history_embedded, self.encoder.token_emb(target_tokens)], dim=1)  # [N, T'+S, d]
        real = self._with_target_slots(history_real)  # [N, T'+S]
        hidden = self.encoder.forward_embedded(inputs, real, self._slots_see_only_history)  # [N, T'+S, d]
        return hidden[:, -self.slots :]  # [N, S, d]

    # ----- training -------------------------------------------------------------------------
    def calculate_loss(self, interaction):
        """The batch's loss, computed in chunks of similar history length.

        Each chunk is trimmed to its own longest history, so short sequences are not padded to
        the batch's longest; summing each part's two sums over chunks makes the result the
        batch's exact (1 - a) * L_paper + a * L_clean (`mix_objectives`).
        """
        order = torch.argsort(interaction[self.ITEM_SEQ_LEN], stable=True)  # [B]
        dense_step = self.dense is not None and self.training_steps % self.dense_every == 0
        self.training_steps += int(self.training)
        catalogue = self._item_candidates() if self.item_head is not None else None  # once a batch
        terms = 0.0
        for chunk in order.split(self.train_chunk_sequences):
            terms = terms + self._loss_terms(interaction[chunk], dense_step, catalogue)  # [4, 2]
        loss = self.token_loss_weight * mix_objectives(terms[:2], self.clean_history_share)
        if self.item_head is not None:
            loss = loss + self.item_loss_weight * weighted_mean(*terms[3])
        return loss + self.dense_loss_weight * weighted_mean(*terms[2]) if dense_step else loss

    def _clean_rows(self, batch: int, device) -> torch.Tensor:
        """Which rows keep their history clean (no random draw at share 0 or 1)."""
        if self.clean_history_share >= 1.0:
            return torch.ones(batch, dtype=torch.bool, device=device)
        if self.clean_history_share <= 0.0:
            return torch.zeros(batch, dtype=torch.bool, device=device)
        return torch.rand(batch, device=device) < self.clean_history_share  # [B]

    def _loss_terms(self, interaction, dense_step: bool = False, catalogue=None) -> torch.Tensor:
        """[[sum(w*CE), sum(w)] of paper rows, the same of clean-history rows, [sum CE, count] of the
        dense loss, the same of the item-level loss] for one chunk: [4, 2]."""
        history = self._history_items(interaction)  # [B, T]
        target = interaction[self.POS_ITEM_ID]  # [B]
        t = sample_noise_level(target.shape[0], self.t_min, target.device)  # [B]
        if self.history_tokens == "items":
            return self._item_layout_terms(history, target, t, dense_step, catalogue)
        items = torch.cat([history, target[:, None]], dim=1)  # [B, T+1]
        tokens, codes, real = items_to_tokens(items, self.item_sid, self.codebook_size, self.pad_id)  # [B, L]
        batch = tokens.shape[0]
        clean = self._clean_rows(batch, tokens.device)  # [B]
        noised, masked, t_paper = self._paper_noise(tokens, real, t, ~clean)
        if clean.any():
            clean_noised, clean_masked = mask_target_only(tokens, real, t, self.mask_id, self.depth)
            noised = torch.where(clean[:, None], clean_noised, noised)  # [B, L]
            masked = torch.where(clean[:, None], clean_masked, masked)  # [B, L]
        hidden = self.encoder(noised, real, self._slots_see_only_history)  # [B, L, d]
        per_item = hidden.view(-1, self.depth, self.hidden_size)  # [B*n, H, d]
        logits = tied_level_logits(per_item, self._code_emb()).reshape(batch, -1, self.codebook_size)  # [B, L, K]
        weights = self._row_weights(torch.where(clean, t, t_paper))  # [B]
        paper_terms = diffusion_loss_terms(logits, codes, masked & ~clean[:, None], weights)
        clean_terms = diffusion_loss_terms(logits, codes, masked & clean[:, None], weights)
        unused = torch.zeros_like(torch.stack(clean_terms))  # [2]: no dense or item-level loss here
        return torch.stack([torch.stack(paper_terms), torch.stack(clean_terms), unused, unused])  # [4, 2]

    def _row_weights(self, t: torch.Tensor) -> torch.Tensor:
        """Per-row token weights: the ELBO's 1/t (the paper), or 1 (`loss_weight: uniform`).

        Uniform weights give the heavily masked rows (the first decoding steps, where the history
        alone must name the item) their share by token count instead of evening every row out.
        """
        return 1.0 / t if self.loss_weight == "inverse_t" else torch.ones_like(t)

    def _paper_noise(self, tokens, real, t, rows):
        """The paper's noising of every token (plus the opt-in item / target options) on `rows` [B]."""
        batch = tokens.shape[0]
        if self.item_mask_prob > 0:
            whole_rows = torch.rand(batch, device=tokens.device) < self.item_mask_prob  # [B]
            noised, masked = mask_whole_items(tokens, real, t, self.mask_id, self.depth, whole_rows)
        else:
            noised, masked = mask_tokens(tokens, real, t, self.mask_id)
        if self.target_mask_prob > 0:
            # also practise the inference task: the newest item fully masked
            forced = (torch.rand(batch, device=tokens.device) < self.target_mask_prob) & rows  # [B]
            last_item = torch.zeros_like(real)
            last_item[:, -self.depth :] = True
            noised, masked = force_mask(noised, masked, last_item & forced[:, None], self.mask_id)
            # weight by the masking rate actually applied: 1/t of a nearly clean row would put
            # the whole batch's weight on its forced target tokens
            applied = masked.sum(1) / real.sum(1).clamp(min=1)  # [B]
            t = torch.where(forced, torch.maximum(t, applied), t)
        return noised, masked, t

    def _item_layout_terms(self, history, target, t, dense_step: bool, catalogue=None) -> torch.Tensor:
        """Clean-history rows with one position per history item (`history_tokens: items`).

        With next_k = k the last k - 1 history items join the target: the k items' k*H slots are
        noised together, as joint decoding will see them. Dense steps mask the whole target. With
        the item head, a second copy of the slots, all masked, reads the same cached history.
        """
        history, targets = self.split_targets(history, target)  # [B, T-k+1], [B, k]
        codes = self.item_sid[targets].flatten(1)  # [B, k*H]
        slots = (targets > 0).repeat_interleave(self.depth, dim=1)  # [B, k*H]; short histories: fewer items
        t = torch.ones_like(t) if dense_step else t  # whole-item masking on dense steps
        noised, masked = mask_tokens(self._code_tokens(codes), slots, t, self.mask_id)  # [B, k*H]
        item_terms = None
        if self.item_head is None:
            states = self._slot_states(self._item_vectors(history), history > 0, noised)  # [B, k*H, d]
        else:
            all_masked = torch.full_like(noised, self.mask_id)  # [B, k*H]
            states, masked_states = self._slot_states_twice(history, noised, all_masked)  # [B, k*H, d] x2
            first = targets[:, 0]  # [B]: the next item
            target_vectors = self._item_vectors(first[:, None])[:, 0]  # [B, d]
            item_terms = torch.stack(self.item_head.loss_terms(masked_states[:, : self.depth], first, target_vectors,
                                                               *catalogue))  # [2]
        logits = self._slot_logits(states)  # [B, k*H, K]
        clean_terms = torch.stack(diffusion_loss_terms(logits, codes, masked, self._row_weights(t)))  # [2]
        dense_terms = torch.zeros_like(clean_terms)
        if dense_step:  # (next_k is 1 with dense retrieval)
            dense_terms = torch.stack(self.dense.loss_terms(states, target))  # [2]
        item_terms = torch.zeros_like(clean_terms) if item_terms is None else item_terms
        return torch.stack([torch.zeros_like(clean_terms), clean_terms, dense_terms, item_terms])  # [4, 2]

    def _slot_states_twice(self, history, first_tokens, second_tokens):
        """Two sets of target slots over one history, encoded once (`history_only`: the history's
        states do not depend on the slots). history [B, T], tokens [B, S] x2 -> states [B, S, d] x2."""
        real = history > 0  # [B, T]
        memory = self.encoder.encode_prefix(self._item_vectors(history), real, self.slots)  # per layer KV
        memory = [(k.repeat(2, 1, 1, 1), v.repeat(2, 1, 1, 1)) for k, v in memory]  # [2B, h, T, hd] x2
        tokens = torch.cat([first_tokens, second_tokens], dim=0)  # [2B, S]
        key_mask = self._with_target_slots(real).repeat(2, 1)  # [2B, T+S]
        states = self.encoder.encode_suffix(self.encoder.token_emb(tokens), memory, key_mask)  # [2B, S, d]
        return states.split(history.shape[0])

    def split_targets(self, history: torch.Tensor, target: torch.Tensor):
        """Right-aligned history [B, T] and next item [B] -> (history [B, T-k+1], next k items [B, k]).

        With k = 1 nothing moves; a history shorter than k - 1 leaves padding (0) target items.
        """
        moved = self.next_k - 1
        if moved == 0:
            return history, target[:, None]
        if history.shape[1] < moved:
            history = F.pad(history, (moved - history.shape[1], 0))  # [B, k-1]
        return history[:, : history.shape[1] - moved], torch.cat([history[:, -moved:], target[:, None]], 1)

