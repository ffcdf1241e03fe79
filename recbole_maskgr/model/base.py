"""What MaskGR and TIGER share: the SID table, the history token layout, the per-phase decoding
specs, the catalogue for constrained search, and the bookkeeping of full-sort scores."""

from __future__ import annotations

import math
import time

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType
from torch import nn

from recbole_maskgr.settings import ConfigError, checked_values
from recbole_maskgr.data.dataset import SIDSequentialDataset
from recbole_maskgr.data.sequences import shape_train_dataset
from recbole_maskgr.decoding import SIDCatalogue
from recbole_maskgr.decoding.spec import DecodingSpec
from recbole_maskgr.model.diffusion import items_to_tokens, right_align
from recbole_maskgr.model.layers import BidirectionalEncoder
from recbole_maskgr.trainer.sid_trainer import SIDTrainer


def tied_level_logits(hidden: torch.Tensor, code_emb: torch.Tensor, start: int = 0) -> torch.Tensor:
    """States of item positions start.. -> logits over each position's own level codes (tied weights).

    hidden [N, L, d], code_emb [H, K, d] (the token table, level by level) -> [N, L, K]. Dividing by
    sqrt(d) keeps unit-scale embeddings from saturating the softmax (a small model stalls without it).
    """
    levels = code_emb[start : start + hidden.shape[1]]  # [L, K, d]
    return torch.einsum("nld,lkd->nlk", hidden, levels) / math.sqrt(hidden.shape[-1])


def sid_log_likelihood(log_probs: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Sum over levels of the codes' log-probs: log_probs [N, H, K], codes [N, H] -> [N]."""
    return log_probs.gather(2, codes[:, :, None]).squeeze(2).sum(1)


def check_beam_width(beam_width: int, topk, rank_beyond_beams: bool = False) -> None:
    """Beams rank the top of the list; fewer beams than max(topk) hand the rest to the fallback.

    That is only allowed when asked for (`rank_beyond_beams`): positions after the B beams are
    then ranked by one-pass likelihood, which is a different ranking rule than the beams'.
    """
    max_topk = max(topk) if isinstance(topk, (list, tuple)) else int(topk)
    if beam_width < max_topk and not rank_beyond_beams:
        raise ConfigError(
            f"beam_width ({beam_width}) is below max(topk) ({max_topk}): the beams would not fill the "
            f"top-{max_topk} list. Set beam_width >= {max_topk} (or lower topk), or set "
            "rank_beyond_beams: True to rank the positions after the beams by one-pass likelihood."
        )


class SIDGenerativeRecommender(SequentialRecommender):
    """Base for models that generate the next item's semantic ID."""

    input_type = InputType.POINTWISE
    dataset_class = SIDSequentialDataset
    trainer_class = SIDTrainer
    decoding_modes: tuple = ("beam",)
    settings_model: str  # whose declared settings (recbole_maskgr/settings) the model reads

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        item_sid = dataset.item_sid.long()  # [n_items, H], row 0 = padding
        self.register_buffer("item_sid", item_sid, persistent=True)
        self.sid_length = item_sid.shape[1]
        self.codebook_size = int(dataset.sid_codebook_size)
        self.special_id = self.sid_length * self.codebook_size  # MaskGR's mask token, TIGER's BOS
        self.pad_id = self.special_id + 1
        self.check_config(config)
        self.hidden_size = config["hidden_size"]
        # the config's decoding, per phase; a caller passes one (or a variant of one) to `rank`
        self.specs = {phase: DecodingSpec.from_config(config, phase, self.sid_length) for phase in ("valid", "test")}
        self._catalogue = None

    @classmethod
    def check_config(cls, config) -> None:
        """The model's own setting rules; the early input checks call them before any data is loaded."""
        settings = checked_values(config, cls.settings_model)  # each setting's declared rule
        cls.check_model_settings(settings)
        check_beam_width(settings.beam_width, settings.topk, settings.rank_beyond_beams)
        if settings.hidden_size % settings.n_heads:
            raise ConfigError(f"hidden_size ({settings.hidden_size}) must be divisible by n_heads ({settings.n_heads}): "
                              "the heads split the width. Change one of them, e.g. --n_heads=4 with hidden_size 128.")
        for phase in ("valid", "test"):
            mode = config[f"{phase}_decoding"]
            if mode not in cls.decoding_modes:
                raise ConfigError(
                    f"{phase}_decoding must be one of {cls.decoding_modes} for {cls.__name__}, got '{mode}'"
                )

    @classmethod
    def check_model_settings(cls, settings) -> None:
        """The model's own cross-setting rules, on the typed values `check_config` already checked."""

    def _history_encoder(self, config, max_tokens: int) -> BidirectionalEncoder:
        """The bidirectional encoder over SID tokens both models use, sized from the config."""
        return BidirectionalEncoder(
            vocab_size=self.pad_id + 1,
            max_len=max_tokens,
            d_model=self.hidden_size,
            n_layers=config["n_layers"],
            n_heads=config["n_heads"],
            d_ff=config["inner_size"],
            dropout=config["dropout_prob"],
            position=config["position_embedding"],
        )

    def _code_emb(self) -> torch.Tensor:
        """The tied token table's code rows, level by level: [H, K, d]."""
        return self.encoder.token_emb.weight[: self.special_id].view(self.sid_length, self.codebook_size, -1)

    @staticmethod
    def item_ids(catalogue_index: torch.Tensor) -> torch.Tensor:
        """Catalogue indices of beams (-1 = empty slot) -> RecBole item ids (0 = empty)."""
        return torch.where(catalogue_index >= 0, catalogue_index + 1, torch.zeros_like(catalogue_index))

    @staticmethod
    def upgrade_state_dict(state: dict) -> dict:
        """Weights saved by an older release, renamed to this one's layout (nothing to rename here)."""
        return state

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=1.0)  # logits divide by sqrt(d): unit-scale start

    @classmethod
    def prepare_train_dataset(cls, config, train_dataset):
        return shape_train_dataset(config, train_dataset)

    @property
    def catalogue(self) -> SIDCatalogue:
        if self._catalogue is None or self._catalogue.codes.device != self.item_sid.device:
            self._catalogue = SIDCatalogue(self.item_sid[1:], self.codebook_size)
        return self._catalogue

    def _history_items(self, interaction) -> torch.Tensor:
        """Right-aligned history [B, T] trimmed to the longest history in the batch."""
        seq, lengths = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        width = int(lengths.max())
        return right_align(seq[:, :width], lengths)

    def _encode_history(self, interaction):
        """History SID tokens [U, T*H] (left-padded) and their real-token mask."""
        history = self._history_items(interaction)  # [U, T]
        tokens, _, real = items_to_tokens(history, self.item_sid, self.codebook_size, self.pad_id)
        return tokens, real

    def _rank_items(self, interaction, tables: dict, spec: DecodingSpec) -> tuple[torch.Tensor, int]:
        """Scores of the real items [U, n_items - 1] and the network rows it took; per model.
        `tables`: what `_decoding_tables` computed once for every chunk of the call."""
        raise NotImplementedError

    def _decoding_tables(self) -> dict:
        """Catalogue-wide tensors that every chunk of one `rank` call shares (the weights do not
        change within a call), computed once instead of once per chunk."""
        return {}

    def rank(self, interaction, spec: DecodingSpec) -> tuple[torch.Tensor, dict]:
        """[U, n_items] scores decoded as `spec` says, and what it took: {users, passes (network
        rows, summed), seconds}. The caller sums the stats; the model keeps none.

        Users are decoded in chunks of similar history length, each trimmed to its own longest
        history, so short histories are not padded to the batch's longest (on Amazon Beauty most
        histories are far shorter than 20 items).
        """
        start = time.perf_counter()
        order = torch.argsort(interaction[self.ITEM_SEQ_LEN], stable=True)  # [U]
        ranking, passes, tables = None, 0, self._decoding_tables()
        for chunk in order.split(spec.chunk_users):
            part, part_passes = self._rank_items(interaction[chunk], tables, spec)  # [u, n_items - 1]
            if ranking is None:
                ranking = part.new_empty(len(order), part.shape[1])
            ranking[chunk] = part
            passes += part_passes
        scores = torch.full((ranking.shape[0], self.n_items), float("-inf"), device=ranking.device)
        scores[:, 1:] = ranking  # RecBole's layout: column 0 is the padding item
        return scores, {"users": ranking.shape[0], "passes": passes, "seconds": time.perf_counter() - start}

    def full_sort_predict(self, interaction):
        """RecBole's entry point (one argument): [U, n_items] scores under the test phase's spec."""
        return self.rank(interaction, self.specs["test"])[0]
