"""MaskGR: masked discrete diffusion over semantic-ID sequences (Shah et al., arXiv 2511.23021).

A user's history of n items is H*n SID tokens; a bidirectional encoder learns to fill masked
tokens. Recommending = appending H mask tokens and unmasking them by beam search.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from recbole_maskgr.decoding import items_from_beams, marginal_item_scores, masked_beam_search
from recbole_maskgr.model.base import SIDGenerativeRecommender, sid_log_likelihood, tied_level_logits
from recbole_maskgr.model.diffusion import (
    diffusion_loss_terms,
    force_mask,
    items_to_tokens,
    mask_target_only,
    mask_tokens,
    mask_whole_items,
    mix_objectives,
    sample_noise_level,
)
from recbole_maskgr.model.maskgr_settings import check_decode_steps, check_diffusion_settings, parse_schedule

DECODING_MODES = ("beam", "marginal")


class MaskGR(SIDGenerativeRecommender):
    decoding_modes = DECODING_MODES
    non_finite_hint = (
        "Lower learning_rate or raise mask_t_min (tiny noise levels weigh the loss by 1/t), "
        "then resume from that checkpoint."
    )

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
        self.schedule = parse_schedule(config["decode_steps"], self.depth)
        self.decode_order = config["decode_order"]
        self.train_chunk_sequences = int(config["train_chunk_sequences"])
        if self.history_tokens == "items":  # one input vector per history item, then the H target slots
            max_tokens = self.max_seq_length + self.depth
        else:  # H tokens per item, history and target alike
            max_tokens = (self.max_seq_length + 1) * self.depth
        self.encoder = self._history_encoder(config, max_tokens)
        self.apply(self._init_weights)

    @classmethod
    def check_config(cls, config) -> None:
        super().check_config(config)
        check_decode_steps(config)
        check_diffusion_settings(config)

    # ----- inputs ---------------------------------------------------------------------------
    def _code_tokens(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-level codes [..., H] -> token ids [..., H] (level l's codes start at l*K)."""
        offsets = torch.arange(self.depth, device=codes.device) * self.codebook_size  # [H]
        return codes + offsets

    def _item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """One vector per item: its H code embeddings (the tied table) summed / sqrt(H); padding -> 0.

        With a clean history nothing inside a history item is ever masked, so its H tokens can
        enter the encoder as one position: H times fewer history positions to run.
        items [N, T] -> [N, T, d]
        """
        vectors = self.encoder.token_emb(self._code_tokens(self.item_sid[items])).sum(2)  # [N, T, d]
        return vectors * (items > 0)[..., None] / math.sqrt(self.depth)

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
        """The encoder's `suffix`: H when the history attends only to itself, else 0 (all to all)."""
        return self.depth if self.history_attention == "history_only" else 0

    def _with_target_slots(self, history_real: torch.Tensor) -> torch.Tensor:
        """The key mask of history + H target slots (always real): [N, T'] -> [N, T'+H]."""
        slots = history_real.new_ones(history_real.shape[0], self.depth)  # [N, H]
        return torch.cat([history_real, slots], dim=1)

    def _target_logits(self, history_embedded, history_real, target_tokens) -> torch.Tensor:
        """One encoder pass over an embedded history and the H target slots -> the slots' logits.

        history_embedded [N, T', d], history_real [N, T'] bool, target_tokens [N, H] -> [N, H, K]
        """
        inputs = torch.cat([history_embedded, self.encoder.token_emb(target_tokens)], dim=1)  # [N, T'+H, d]
        real = self._with_target_slots(history_real)  # [N, T'+H]
        hidden = self.encoder.forward_embedded(inputs, real, self._slots_see_only_history)  # [N, T'+H, d]
        return tied_level_logits(hidden[:, -self.depth :], self._code_emb())  # [N, H, K]

    # ----- training -------------------------------------------------------------------------
    def calculate_loss(self, interaction):
        """The batch's loss, computed in chunks of similar history length.

        Each chunk is trimmed to its own longest history, so short sequences are not padded to
        the batch's longest; summing each part's two sums over chunks makes the result the
        batch's exact (1 - a) * L_paper + a * L_clean (`mix_objectives`).
        """
        order = torch.argsort(interaction[self.ITEM_SEQ_LEN], stable=True)  # [B]
        terms = 0.0
        for chunk in order.split(self.train_chunk_sequences):
            terms = terms + self._loss_terms(interaction[chunk])  # [2, 2]
        return mix_objectives(terms, self.clean_history_share)

    def _clean_rows(self, batch: int, device) -> torch.Tensor:
        """Which rows keep their history clean (no random draw at share 0 or 1)."""
        if self.clean_history_share >= 1.0:
            return torch.ones(batch, dtype=torch.bool, device=device)
        if self.clean_history_share <= 0.0:
            return torch.zeros(batch, dtype=torch.bool, device=device)
        return torch.rand(batch, device=device) < self.clean_history_share  # [B]

    def _loss_terms(self, interaction) -> torch.Tensor:
        """[[sum(w*CE), sum(w)] of paper rows, the same of clean-history rows] for one chunk."""
        history = self._history_items(interaction)  # [B, T]
        target = interaction[self.POS_ITEM_ID]  # [B]
        t = sample_noise_level(target.shape[0], self.t_min, target.device)  # [B]
        if self.history_tokens == "items":
            return self._item_layout_terms(history, target, t)
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
        return torch.stack([torch.stack(paper_terms), torch.stack(clean_terms)])  # [2, 2]

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

    def _item_layout_terms(self, history, target, t) -> torch.Tensor:
        """Clean-history rows with one position per history item (`history_tokens: items`)."""
        codes = self.item_sid[target]  # [B, H]
        slots = torch.ones_like(codes, dtype=torch.bool)  # [B, H]
        noised, masked = mask_tokens(self._code_tokens(codes), slots, t, self.mask_id)  # [B, H]
        logits = self._target_logits(self._item_vectors(history), history > 0, noised)  # [B, H, K]
        clean_terms = torch.stack(diffusion_loss_terms(logits, codes, masked, self._row_weights(t)))  # [2]
        return torch.stack([torch.zeros_like(clean_terms), clean_terms])  # [2, 2]

    # ----- decoding ---------------------------------------------------------------------------
    def _decoding_context(self, interaction) -> dict:
        """What every decoding pass of these users shares, computed once.

        With `history_attention: history_only` the history's states do not depend on the target
        slots: its per-layer keys/values are cached here and each pass runs only the H slots.
        """
        history_inputs, history_real = self._encode_history(interaction)  # [U, T'] each
        context = {"users": history_real.shape[0], "real": history_real}
        embedded = self._embed_history(history_inputs)  # [U, T', d]
        if self.history_attention == "history_only":
            context["memory"] = self.encoder.encode_prefix(embedded, history_real, self.depth)  # per layer KV
        else:
            context["embedded"] = embedded
        return context

    def _target_log_probs(self, context: dict, user_index, target):
        """One pass: log-probs [N, H, K] of the target item's codes (-1 in target = masked)."""
        masked_slot = torch.full_like(target, self.mask_id)
        target_tokens = torch.where(target >= 0, self._code_tokens(target), masked_slot)  # [N, H]
        history_real = context["real"][user_index]  # [N, T']
        if "memory" in context:
            memory = [(k[user_index], v[user_index]) for k, v in context["memory"]]  # [N, h, T', hd] x2 per layer
            real = self._with_target_slots(history_real)  # [N, T'+H]
            hidden = self.encoder.encode_suffix(self.encoder.token_emb(target_tokens), memory, real)  # [N, H, d]
            logits = tied_level_logits(hidden, self._code_emb())  # [N, H, K]
        else:
            logits = self._target_logits(context["embedded"][user_index], history_real, target_tokens)  # [N, H, K]
        return F.log_softmax(logits, dim=-1)

    def _marginal_log_probs(self, interaction):
        context = self._decoding_context(interaction)
        users = torch.arange(context["users"], device=self.item_sid.device)  # [U]
        all_masked = torch.full((context["users"], self.depth), -1, dtype=torch.long, device=self.item_sid.device)
        return self._target_log_probs(context, users, all_masked)  # [U, H, K]

    def predict(self, interaction):
        """Score the given items by their tokens' log-probs in one pass with the target masked."""
        log_probs = self._marginal_log_probs(interaction)  # [B, H, K]
        codes = self.item_sid[interaction[self.ITEM_ID]]  # [B, H]
        return sid_log_likelihood(log_probs, codes)  # [B]

    def _rank_items(self, interaction):
        """Beam items first by beam log-prob, the rest by one-pass likelihood (or all one-pass)."""
        if self.decoding[self.phase] == "marginal":
            ranking = marginal_item_scores(self._marginal_log_probs(interaction), self.item_sid[1:])
            return ranking, ranking.shape[0]
        return self._beam_ranking(interaction)

    def _beam_ranking(self, interaction):
        context = self._decoding_context(interaction)
        first_pass = {}

        def log_prob_fn(user_index, target):
            log_probs = self._target_log_probs(context, user_index, target)
            first_pass.setdefault("log_probs", log_probs)  # one beam per user, all masked
            return log_probs

        result = masked_beam_search(
            log_prob_fn,
            n_users=context["users"],
            H=self.depth,
            K=self.codebook_size,
            beam_width=self.beam_width,
            steps=self.schedule,
            order=self.decode_order,
            catalogue=self.catalogue,
            invalid=self.invalid_sid,
        )
        fallback = marginal_item_scores(first_pass["log_probs"], self.item_sid[1:])  # [U, n_items-1]
        return items_from_beams(result.items, result.scores, fallback), result.rows
