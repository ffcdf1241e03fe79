"""TIGER: autoregressive generative retrieval over semantic IDs (Rajput et al., NeurIPS 2023).

The autoregressive baseline for MaskGR on the very same SIDs, splits and trainer: a bidirectional
encoder reads the history's SID tokens (MaskGR's token layout), and a causal decoder with
cross-attention generates the next item's H codes left to right.

Choices (see also ``decoding/ar_beam.py``):

* One token table serves the encoder input, the decoder input and the output layer (tied, as T5
  ties them): the decoder's position ``l`` is scored against level ``l``'s K code embeddings,
  ``hidden @ E_l^T / sqrt(d)`` — MaskGR's output parameterisation, so the two differ only in how
  they factorise the next item. The BOS token takes MaskGR's mask-id slot.
* Positions: the encoder uses MaskGR's encoder (learned from the right, or rotary); the decoder
  has H learned positions. T5's relative position bias and its 64-wide heads are not reproduced.
* Only beam decoding: an autoregressive model has no one-pass marginal over the H levels.
* Items the beams miss are ranked by the level-0 log-prob of the first decoding step (0 for the
  other levels): the first factor of the item's likelihood, an upper bound of it, free to compute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recbole_maskgr.decoding import items_from_beams, marginal_item_scores
from recbole_maskgr.decoding.ar_beam import autoregressive_beam_search
from recbole_maskgr.decoding.spec import DecodingSpec
from recbole_maskgr.model.base import SIDGenerativeRecommender, sid_log_likelihood, tied_level_logits
from recbole_maskgr.model.layers import KV, Block

# ---------------------------------------------------------------- pure functions
def shift_right(codes: torch.Tensor, codebook_size: int, bos_id: int) -> torch.Tensor:
    """Teacher-forcing inputs: BOS, then the target's codes 0..H-2 as level-offset tokens.

    codes [N, H] per-level codes in [0, K) -> tokens [N, H]; input l predicts code l.
    """
    sid_length = codes.shape[1]
    offsets = torch.arange(sid_length - 1, device=codes.device) * codebook_size  # [H-1]
    bos = torch.full_like(codes[:, :1], bos_id)  # [N, 1]
    return torch.cat([bos, codes[:, :-1] + offsets], dim=1)  # [N, H]


def upgrade_legacy_decoder_state(state: dict) -> dict:
    """TIGER checkpoints written before the shared `Block`: decoder blocks named their layers
    self_attn / norm2 (cross) / norm3 and kept the query projection (q) apart from keys/values (kv)."""
    if not any(".norm3." in key for key in state):
        return state
    renamed = {}
    for key, value in state.items():
        if key.startswith("decoder.blocks."):
            head, name = key.split(".", 3)[:3], key.split(".", 3)[3]
            for old, new in (("norm2.", "norm_cross."), ("norm3.", "norm2."), ("self_attn.", "attn.")):
                if name.startswith(old):
                    name = new + name[len(old) :]
                    break
            key = ".".join(head + [name])
        renamed[key] = value
    for key in [k for k in renamed if k.endswith(".q.weight") or k.endswith(".q.bias")]:
        stem, part = key.rsplit(".q.", 1)
        renamed[f"{stem}.qkv.{part}"] = torch.cat([renamed.pop(key), renamed.pop(f"{stem}.kv.{part}")])
    return renamed


# ---------------------------------------------------------------- decoder
class CausalDecoder(nn.Module):
    """Generates the H codes of one item; `forward` runs teacher-forced or one cached step."""

    def __init__(self, length: int, d_model: int, n_layers: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.pos_emb = nn.Embedding(length, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, d_ff, dropout, cross_attention=True) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def memory_kv(self, memory: torch.Tensor) -> list[KV]:
        """Cross-attention keys/values of each layer, computed once per user: memory [U, S, d]."""
        return [block.cross_attn.keys_values(memory) for block in self.blocks]

    def forward(self, x, memory_kv: list[KV], memory_mask, start: int = 0, past: list[KV] | None = None):
        """x [N, L, d] embedded inputs of positions start..start+L-1 -> (hidden [N, L, d], cache per layer)."""
        positions = torch.arange(start, start + x.shape[1], device=x.device)  # [L]
        x = self.drop(x + self.pos_emb(positions)[None])
        cache = []
        for i, block in enumerate(self.blocks):
            own_past = None if past is None else past[i]
            x, kv = block(x, memory=own_past, causal=past is None, cross=(memory_kv[i], memory_mask))
            cache.append(kv)
        return self.norm(x), cache


# ---------------------------------------------------------------- the RecBole model
class TIGER(SIDGenerativeRecommender):
    """Shares MaskGR's base: the same history layout and catalogue, so both see identical tokens."""

    decoding_modes = ("beam",)  # an autoregressive model has no one-pass marginal over the H levels
    settings_model = "TIGER"

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.bos_id = self.special_id  # MaskGR's mask slot
        self.encoder = self._history_encoder(config, self.max_seq_length * self.sid_length)
        self.decoder = CausalDecoder(
            length=self.sid_length,
            d_model=self.hidden_size,
            n_layers=config["n_decoder_layers"],
            n_heads=config["n_heads"],
            d_ff=config["inner_size"],
            dropout=config["dropout_prob"],
        )
        self.apply(self._init_weights)

    @staticmethod
    def upgrade_state_dict(state: dict) -> dict:
        return upgrade_legacy_decoder_state(state)

    # ----- shared pieces -----------------------------------------------------------------------
    def _memory(self, interaction):
        """Encoder states of the history: (memory [U, S, d], memory_mask [U, S])."""
        tokens, real = self._encode_history(interaction)  # [U, S] each
        real = real.clone()
        real[:, -1] = True  # right-aligned: a no-op for any history, and no all-masked row if empty
        return self.encoder(tokens, real), real

    def forward(self, tokens, memory_kv: list[KV], memory_mask, start: int = 0, past: list[KV] | None = None):
        """Decoder tokens [N, L] at positions start.. over the history's cross-attention keys/values ->
        (logits [N, L, K] over each position's level codes, the self-attention cache per layer).
        Teacher forcing (training, `predict`) and every cached beam step go through it."""
        hidden, cache = self.decoder(self.encoder.token_emb(tokens), memory_kv, memory_mask, start=start, past=past)
        return tied_level_logits(hidden, self._code_emb(), start=start), cache  # [N, L, K]

    def teacher_forced_logits(self, memory, memory_mask, codes):
        """Logits [N, H, K] of each level's code given the codes before it: codes [N, H]."""
        inputs = shift_right(codes, self.codebook_size, self.bos_id)  # [N, H]
        return self(inputs, self.decoder.memory_kv(memory), memory_mask)[0]

    # ----- training -------------------------------------------------------------------------
    def calculate_loss(self, interaction):
        memory, memory_mask = self._memory(interaction)  # [B, S, d], [B, S]
        codes = self.item_sid[interaction[self.POS_ITEM_ID]]  # [B, H]
        logits = self.teacher_forced_logits(memory, memory_mask, codes)  # [B, H, K]
        return F.cross_entropy(logits.flatten(0, 1), codes.flatten())

    # ----- decoding ---------------------------------------------------------------------------
    def predict(self, interaction):
        """Teacher-forced log-likelihood of the given item's SID (raw model log-probs, summed)."""
        memory, memory_mask = self._memory(interaction)
        codes = self.item_sid[interaction[self.ITEM_ID]]  # [B, H]
        log_probs = F.log_softmax(self.teacher_forced_logits(memory, memory_mask, codes), dim=-1)  # [B, H, K]
        return sid_log_likelihood(log_probs, codes)

    def make_step_fn(self, memory, memory_mask):
        """`step_fn` for `autoregressive_beam_search` with a self-attention cache.

        Cross-attention keys/values are computed once per user and picked per row by user index;
        the cache of the previous call is reordered by `parent`.
        """
        memory_kv = self.decoder.memory_kv(memory)  # per layer, [U, h, S, hd] x2
        state = {"cache": None}

        def step_fn(user_index, parent, prefix):
            level = prefix.shape[1]
            if level == 0:
                token = torch.full_like(user_index, self.bos_id)  # [N]
            else:
                token = prefix[:, -1] + (level - 1) * self.codebook_size  # [N]
            rows_kv = [(k[user_index], v[user_index]) for k, v in memory_kv]  # [N, h, S, hd] x2 per layer
            past = None if level == 0 else [(k[parent], v[parent]) for k, v in state["cache"]]
            logits, state["cache"] = self(token[:, None], rows_kv, memory_mask[user_index], start=level, past=past)
            return F.log_softmax(logits[:, 0], dim=-1)  # [N, K]

        return step_fn

    def _beams(self, interaction, spec: DecodingSpec):
        """Beam search over the next item's codes: (BeamResult, the first step's log-probs [U, K])."""
        memory, memory_mask = self._memory(interaction)
        step_fn = self.make_step_fn(memory, memory_mask)
        first = {}

        def recording_step_fn(user_index, parent, prefix):
            log_probs = step_fn(user_index, parent, prefix)
            first.setdefault("level0", log_probs)  # first call: one row per user, in user order
            return log_probs

        result = autoregressive_beam_search(
            recording_step_fn,
            n_users=memory.shape[0],
            H=self.sid_length,
            K=self.codebook_size,
            beam_width=spec.beam_width,
            catalogue=self.catalogue,
            invalid=spec.invalid_sid,
        )
        return result, first["level0"]

    def decode_next_items(self, interaction, spec: DecodingSpec | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The next item's beams (by `spec`, else the test phase's), as MaskGR's `decode_next_items`
        with k = 1: (item ids [U, B, 1], 0 = empty; scores [U, B])."""
        result, _ = self._beams(interaction, spec or self.specs["test"])
        return self.item_ids(result.items)[..., None], result.scores

    def _rank_items(self, interaction, tables, spec: DecodingSpec):
        """Beam items first by beam log-prob, the rest by level-0 log-prob."""
        result, level0 = self._beams(interaction, spec)
        users = level0.shape[0]
        level_log_probs = level0.new_zeros(users, self.sid_length, self.codebook_size)  # [U, H, K]
        level_log_probs[:, 0] = level0
        fallback = marginal_item_scores(level_log_probs, self.item_sid[1:])  # [U, n_items-1]
        return items_from_beams(result.items, result.scores, fallback), result.rows  # [U, n_items-1]
