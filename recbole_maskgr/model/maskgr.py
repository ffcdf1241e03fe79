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
from recbole_maskgr.model.item_head import ItemHead
from recbole_maskgr.model.maskgr_decoding import DECODING_MODES, MaskGRDecoding
from recbole_maskgr.model.maskgr_settings import check_maskgr_settings
from recbole_maskgr.model.objectives import add_terms, objective_for


class MaskGR(MaskGRDecoding, SIDGenerativeRecommender):
    decoding_modes = DECODING_MODES
    settings_model = "MaskGR"
    non_finite_hint = "Lower learning_rate or raise mask_t_min (tiny noise levels weigh the loss by 1/t)"

    def __init__(self, config, dataset):
        super().__init__(config, dataset)  # runs check_config: the rules the early input checks apply
        self.mask_id = self.special_id
        self.objective = objective_for(config)  # the history layout's loss, with its settings
        self.history_tokens = config["history_tokens"]
        self.history_attention = config["history_attention"]
        self.train_chunk_sequences = int(config["train_chunk_sequences"])
        self.next_k = int(config["next_k"])
        self.slots = self.next_k * self.sid_length  # target slots: the next k items' H tokens each
        if self.history_tokens == "items":  # one input vector per history item, then the target slots
            max_tokens = self.max_seq_length + self.slots
        else:  # H tokens per item, history and target alike
            max_tokens = (self.max_seq_length + self.next_k) * self.sid_length
        self.encoder = self._history_encoder(config, max_tokens)
        self.dense = None
        self.dense_layer = int(config["dense_layer"])  # 0: the last layer's output; k: block k's
        if config["dense_retrieval"]:
            self.dense = DenseRetrieval(dataset.item_text_vectors, self.hidden_size, config["dense_temperature"],
                                        reads_intermediate=self.dense_layer > 0)
            self.dense_every = int(config["dense_every"])
        self.training_step = 0  # dense steps: every dense_every-th; our trainer sets it to its global step
        # hybrid input: a learned vector per item next to its SID code sum (memorises what SIDs share)
        self.item_id_emb = nn.Embedding(self.n_items, self.hidden_size) if config["item_id_vectors"] else None
        self.item_negatives = int(config["item_negatives"])
        self.item_head = ItemHead(self.hidden_size) if float(config["item_loss_weight"]) > 0 else None
        self.apply(self._init_weights)

    @classmethod
    def check_model_settings(cls, settings) -> None:
        check_maskgr_settings(settings)

    # ----- inputs ---------------------------------------------------------------------------
    def _code_tokens(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-level codes [..., k*H] (k items side by side) -> token ids (level l's codes start at l*K)."""
        offsets = (torch.arange(codes.shape[-1], device=codes.device) % self.sid_length) * self.codebook_size  # [k*H]
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
        vectors = vectors * real / math.sqrt(self.sid_length)
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
        per_item = states.reshape(-1, self.sid_length, states.shape[-1])  # [N*k, H, d]
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

    def forward(self, history, history_real: torch.Tensor, slot_tokens: torch.Tensor, every_position: bool = False,
                layer_states: list | None = None):
        """The encoder over a history and the S target slots -> the slots' states [N, S, d]; training,
        `predict` and every decoding pass go through it.

        history: the embedded history [N, T', d], or (`history_only`) its per-layer keys/values from
        `encoder.encode_prefix`, so a pass runs the slots only; history_real [N, T'] bool; slot_tokens
        [N, S]. every_position: the states of history and slots [N, T'+S, d] (not with cached keys).
        layer_states: a list that receives each block's slot states [N, S, d] (the dense head's input).
        """
        real = self._with_target_slots(history_real)  # [N, T'+S]
        slots = self.encoder.token_emb(slot_tokens)  # [N, S, d]
        blocks = None if layer_states is None else []
        if isinstance(history, list):  # cached keys/values: the history attends only to itself
            hidden = self.encoder.encode_suffix(slots, history, real, blocks)  # [N, S, d]
        else:
            inputs = torch.cat([history, slots], dim=1)  # [N, T'+S, d]
            hidden = self.encoder.forward_embedded(inputs, real, self._slots_see_only_history, blocks)  # [N, T'+S, d]
        if layer_states is not None:
            layer_states.extend(states[:, -self.slots :] for states in blocks)  # [N, S, d] per block
        return hidden if every_position else hidden[:, -self.slots :]

    def dense_input(self, states: torch.Tensor, layer_states: list) -> torch.Tensor:
        """The slot states the dense head reads: the last layer's output (`dense_layer: 0`) or block
        `dense_layer`'s (the paper reads an intermediate layer). [N, S, d] -> [N, S, d]"""
        return states if self.dense_layer == 0 else layer_states[self.dense_layer - 1]

    # ----- training -------------------------------------------------------------------------
    def calculate_loss(self, interaction):
        """The batch's loss, computed in chunks of similar history length.

        Each chunk is trimmed to its own longest history, so short sequences are not padded to
        the batch's longest; the objective's named terms are sums, so the chunks add up to the
        batch's exact loss.
        """
        order = torch.argsort(interaction[self.ITEM_SEQ_LEN], stable=True)  # [B]
        dense_step = self.dense is not None and self.training_step % self.dense_every == 0
        self.training_step += int(self.training)  # counting of our own when no trainer sets it (plain RecBole)
        candidates = self._item_candidates() if self.item_head is not None else None  # once a batch
        terms = {}
        for chunk in order.split(self.train_chunk_sequences):
            terms = add_terms(terms, self.objective.chunk_terms(self, interaction[chunk], dense_step, candidates))
        return self.objective.loss(terms)

    def split_targets(self, history: torch.Tensor, target: torch.Tensor):
        """Right-aligned history [B, T] and next item [B] -> (history [B, T-k+1], next k items [B, k]).

        With k = 1 nothing moves; a history shorter than k - 1 leaves padding (0) target items, and one
        position (padding) stays behind when every history of the chunk moves whole into the target.
        """
        moved = self.next_k - 1
        if moved == 0:
            return history, target[:, None]
        if history.shape[1] < moved + 1:
            history = F.pad(history, (moved + 1 - history.shape[1], 0))  # [B, k]
        return history[:, : history.shape[1] - moved], torch.cat([history[:, -moved:], target[:, None]], 1)

