"""MaskGR: masked discrete diffusion over semantic-ID sequences (Shah et al., arXiv 2511.23021).

A user's history of n items is H*n SID tokens; a bidirectional encoder learns to fill masked
tokens. Recommending = appending H mask tokens and unmasking them by beam search.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_maskgr.data.dataset import SIDSequentialDataset
from recbole_maskgr.data.sequences import shape_train_dataset
from recbole_maskgr.decoding import SIDCatalogue, items_from_beams, marginal_item_scores, masked_beam_search
from recbole_maskgr.model.diffusion import (
    diffusion_loss,
    force_mask,
    items_to_tokens,
    mask_tokens,
    right_align,
    sample_noise_level,
    split_schedule,
)
from recbole_maskgr.model.layers import BidirectionalEncoder
from recbole_maskgr.trainer.diffusion_trainer import DiffusionTrainer

DECODING_MODES = ("beam", "marginal")


def parse_schedule(value, depth: int) -> list[int]:
    """`decode_steps`: a step count (split evenly, larger parts first) or an explicit list like [3, 2]."""
    if isinstance(value, (list, tuple)):
        schedule = [int(v) for v in value]
        if sum(schedule) != depth or min(schedule) < 1:
            raise ValueError(f"decode_steps {schedule} must be positive and add up to the SID length {depth}")
        return schedule
    return split_schedule(depth, int(value if value is not None else depth))


class MaskGR(SequentialRecommender):
    input_type = InputType.POINTWISE
    dataset_class = SIDSequentialDataset
    trainer_class = DiffusionTrainer

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        item_sid = dataset.item_sid.long()  # [n_items, H], row 0 = padding
        self.register_buffer("item_sid", item_sid, persistent=True)
        self.depth = item_sid.shape[1]
        self.codebook_size = int(dataset.sid_codebook_size)
        self.mask_id = self.depth * self.codebook_size
        self.pad_id = self.mask_id + 1
        self.hidden_size = config["hidden_size"]
        self.t_min = float(config["mask_t_min"])
        self.target_mask_prob = float(config["target_mask_prob"])
        if not 0.0 < self.t_min < 1.0:
            raise ValueError(f"mask_t_min must be in (0, 1), got {self.t_min}")
        if not 0.0 <= self.target_mask_prob <= 1.0:
            raise ValueError(f"target_mask_prob must be in [0, 1], got {self.target_mask_prob}")

        self.beam_width = int(config["beam_width"])
        max_topk = max(config["topk"]) if isinstance(config["topk"], list) else int(config["topk"])
        if self.beam_width < max_topk:
            raise ValueError(
                f"beam_width ({self.beam_width}) is below max(topk) ({max_topk}): the beams would not fill "
                f"the top-{max_topk} list. Set beam_width >= {max_topk}."
            )
        self.schedule = parse_schedule(config["decode_steps"], self.depth)
        self.decode_order = config["decode_order"]
        self.invalid_sid = config["invalid_sid"]
        self.decoding = {"valid": config["valid_decoding"], "test": config["test_decoding"]}
        for phase, mode in self.decoding.items():
            if mode not in DECODING_MODES:
                raise ValueError(f"{phase}_decoding must be one of {DECODING_MODES}, got '{mode}'")
        self.phase = "test"
        self.decode_stats = {"users": 0, "passes": 0, "seconds": 0.0}  # passes: encoder rows, summed

        self.encoder = BidirectionalEncoder(
            vocab_size=self.pad_id + 1,
            max_len=(self.max_seq_length + 1) * self.depth,
            d_model=self.hidden_size,
            n_layers=config["n_layers"],
            n_heads=config["n_heads"],
            d_ff=config["inner_size"],
            dropout=config["dropout_prob"],
            position=config["position_embedding"],
        )
        self.apply(self._init_weights)
        self._catalogue = None

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=1.0)  # logits divide by sqrt(d): unit-scale start

    @classmethod
    def prepare_train_dataset(cls, config, train_dataset):
        return shape_train_dataset(config, train_dataset)

    # ----- shapes shared by training and decoding -------------------------------------------
    def _level_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [B, n, H, d] of whole items -> logits [B, n, H, K] over each level's own codes (tied)."""
        codes_emb = self.encoder.token_emb.weight[: self.mask_id].view(self.depth, self.codebook_size, -1)  # [H, K, d]
        return torch.einsum("bnhd,hkd->bnhk", hidden, codes_emb) / math.sqrt(self.hidden_size)

    def _history_items(self, interaction) -> torch.Tensor:
        """Right-aligned history [B, T] trimmed to the longest history in the batch."""
        seq, lengths = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        width = int(lengths.max())
        return right_align(seq[:, :width], lengths)

    # ----- training -------------------------------------------------------------------------
    def calculate_loss(self, interaction):
        history = self._history_items(interaction)  # [B, T]
        target = interaction[self.POS_ITEM_ID]  # [B]
        items = torch.cat([history, target[:, None]], dim=1)  # [B, T+1]
        tokens, codes, real = items_to_tokens(items, self.item_sid, self.codebook_size, self.pad_id)  # [B, L]
        batch = tokens.shape[0]
        t = sample_noise_level(batch, self.t_min, tokens.device)  # [B]
        noised, masked = mask_tokens(tokens, real, t, self.mask_id)
        if self.target_mask_prob > 0:
            # also practise the inference task: the newest item fully masked
            rows = torch.rand(batch, device=tokens.device) < self.target_mask_prob  # [B]
            last_item = torch.zeros_like(real)
            last_item[:, -self.depth :] = True
            noised, masked = force_mask(noised, masked, last_item & rows[:, None], self.mask_id)
        hidden = self.encoder(noised, real)  # [B, L, d]
        logits = self._level_logits(hidden.view(batch, -1, self.depth, self.hidden_size))  # [B, n, H, K]
        return diffusion_loss(logits.flatten(1, 2), codes, masked, 1.0 / t)

    # ----- decoding ---------------------------------------------------------------------------
    @property
    def catalogue(self) -> SIDCatalogue:
        if self._catalogue is None or self._catalogue.codes.device != self.item_sid.device:
            self._catalogue = SIDCatalogue(self.item_sid[1:], self.codebook_size)
        return self._catalogue

    def _target_log_probs(self, history_tokens, history_real, user_index, target):
        """One encoder pass: log-probs [N, H, K] of the target item's codes (-1 in target = masked)."""
        offsets = torch.arange(self.depth, device=target.device) * self.codebook_size  # [H]
        target_tokens = torch.where(target >= 0, target + offsets, torch.full_like(target, self.mask_id))  # [N, H]
        tokens = torch.cat([history_tokens[user_index], target_tokens], dim=1)  # [N, L]
        real = torch.cat([history_real[user_index], torch.ones_like(target, dtype=torch.bool)], dim=1)  # [N, L]
        hidden = self.encoder(tokens, real)[:, -self.depth :]  # [N, H, d]
        logits = self._level_logits(hidden[:, None])[:, 0]  # [N, H, K]
        return F.log_softmax(logits, dim=-1)

    def _encode_history(self, interaction):
        history = self._history_items(interaction)  # [U, T]
        tokens, _, real = items_to_tokens(history, self.item_sid, self.codebook_size, self.pad_id)  # [U, T*H]
        return tokens, real

    def _marginal_log_probs(self, interaction):
        tokens, real = self._encode_history(interaction)
        users = torch.arange(tokens.shape[0], device=tokens.device)
        all_masked = torch.full((tokens.shape[0], self.depth), -1, dtype=torch.long, device=tokens.device)
        return self._target_log_probs(tokens, real, users, all_masked)  # [U, H, K]

    def predict(self, interaction):
        """Score the given items by their tokens' log-probs in one pass with the target masked."""
        log_probs = self._marginal_log_probs(interaction)  # [B, H, K]
        codes = self.item_sid[interaction[self.ITEM_ID]]  # [B, H]
        return log_probs.gather(2, codes[:, :, None]).squeeze(2).sum(1)  # [B]

    def full_sort_predict(self, interaction):
        """[U, n_items] scores: beam items first by beam log-prob, the rest by one-pass likelihood."""
        start = time.perf_counter()
        if self.decoding[self.phase] == "marginal":
            log_probs = self._marginal_log_probs(interaction)
            ranking = marginal_item_scores(log_probs, self.item_sid[1:])
            passes = ranking.shape[0]
        else:
            ranking, passes = self._beam_ranking(interaction)
        scores = torch.full((ranking.shape[0], self.n_items), float("-inf"), device=ranking.device)
        scores[:, 1:] = ranking
        self.decode_stats["users"] += ranking.shape[0]
        self.decode_stats["passes"] += passes
        self.decode_stats["seconds"] += time.perf_counter() - start
        return scores

    def _beam_ranking(self, interaction):
        tokens, real = self._encode_history(interaction)
        first_pass = {}

        def log_prob_fn(user_index, target):
            log_probs = self._target_log_probs(tokens, real, user_index, target)
            first_pass.setdefault("log_probs", log_probs)  # one beam per user, all masked
            return log_probs

        result = masked_beam_search(
            log_prob_fn,
            n_users=tokens.shape[0],
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
