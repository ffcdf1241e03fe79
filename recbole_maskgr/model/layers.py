"""A small bidirectional transformer encoder (pre-norm, SDPA attention, optional rotary positions)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rotary_tables(length: int, head_dim: int, device, base: float = 10000.0):
    """cos/sin tables for rotary position embedding, [length, head_dim // 2] each."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]  # [L, hd/2]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of x [B, heads, L, hd] by position-dependent angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]  # [B, h, L, hd/2] each
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # [B, h, L, hd/2, 2]
    return rotated.flatten(-2)


KV = tuple[torch.Tensor, torch.Tensor]  # keys, values: [N, heads, S, head_dim] each


def layout_mask(key_mask: torch.Tensor, suffix: int) -> torch.Tensor:
    """Who may attend to whom when the first L - suffix positions (the history) see only each other.

    key_mask [N, L] (True = real token) -> [N, 1, L, L]. The last `suffix` positions (the target
    slots) see every real token. Each position also sees itself, so a padding row of an empty
    history has a key and attention never divides by zero (real positions never see padding).
    """
    length = key_mask.shape[1]
    query_sees_suffix = torch.arange(length, device=key_mask.device) >= length - suffix  # [L]
    key_in_prefix = ~query_sees_suffix  # [L]
    allowed = key_mask[:, None, :] & (key_in_prefix[None, :] | query_sees_suffix[:, None])[None]  # [N, L, L]
    return (allowed | torch.eye(length, dtype=torch.bool, device=key_mask.device))[:, None]


class Attention(nn.Module):
    """Multi-head attention for both models: self-attention (optional rotary positions, causal flag,
    cached keys/values of earlier positions) and cross-attention to precomputed keys/values.

    One fused in-projection (queries, keys, values) as in torch's MultiheadAttention: self-attention
    runs it as one matmul; cross-attention uses its query rows on x and its key/value rows on the
    memory (`keys_values`), computed once per user.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"hidden_size ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.d_model = d_model
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x, attn_mask=None, rotary=None, memory: KV | None = None, causal: bool = False):
        """Self-attention: x [N, L, d] attends to itself and, if given, to `memory` (keys/values of
        earlier positions, rotated already) placed before it.

        attn_mask: [N, 1, 1 or L, S + L] True = may be attended, or None. Returns (output [N, L, d],
        all keys/values attended [N, h, S + L, hd] x2: the cache for the next call).
        """
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)  # [N, h, L, hd] x3
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        if memory is not None:
            k, v = torch.cat([memory[0], k], 2), torch.cat([memory[1], v], 2)  # [N, h, S+L, hd]
        return self._attend(q, (k, v), attn_mask, causal), (k, v)

    def cross(self, x, kv: KV, key_mask=None):
        """Cross-attention: x [N, L, d] attends to `keys_values(memory)`; key_mask [N, S] -> [N, L, d]."""
        batch, length, _ = x.shape
        q = F.linear(x, self.qkv.weight[: self.d_model], self.qkv.bias[: self.d_model])  # [N, L, d]
        q = q.view(batch, length, self.n_heads, -1).transpose(1, 2)  # [N, h, L, hd]
        mask = None if key_mask is None else key_mask[:, None, None, :]  # [N, 1, 1, S]
        return self._attend(q, kv, mask, causal=False)

    def keys_values(self, source: torch.Tensor) -> KV:
        """source [N, S, d] -> keys, values [N, h, S, hd] for `cross`."""
        n, s, _ = source.shape
        kv = F.linear(source, self.qkv.weight[self.d_model :], self.qkv.bias[self.d_model :])  # [N, S, 2d]
        k, v = kv.view(n, s, 2, self.n_heads, -1).permute(2, 0, 3, 1, 4)  # [N, h, S, hd] x2
        return k, v

    def _attend(self, q, kv: KV, attn_mask, causal: bool) -> torch.Tensor:
        """q [N, h, L, hd] over keys/values -> the output projection [N, L, d]."""
        y = F.scaled_dot_product_attention(
            q, *kv, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )  # [N, h, L, hd]
        batch, _, length, _ = q.shape
        return self.out(y.transpose(1, 2).reshape(batch, length, self.d_model))


class FeedForward(nn.Sequential):
    """d -> d_ff -> GELU -> d, the position-wise layer of every block (encoder and TIGER's decoder)."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, optionally cross-attention to a memory (TIGER's
    decoder), then the feed-forward layer."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, cross_attention: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads, dropout)
        if cross_attention:
            self.norm_cross = nn.LayerNorm(d_model)
            self.cross_attn = Attention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, d_ff)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, attn_mask=None, rotary=None, memory: KV | None = None, causal=False, cross=None):
        """x [N, L, d]; `cross` = (keys/values of the memory, its key mask [N, S]) for cross-attention.

        -> (x [N, L, d], the self-attention keys/values attended: memory's, then x's).
        """
        attended, kv = self.attn(self.norm1(x), attn_mask, rotary, memory, causal)
        x = x + self.drop(attended)
        if cross is not None:
            x = x + self.drop(self.cross_attn.cross(self.norm_cross(x), *cross))
        return x + self.drop(self.ff(self.norm2(x))), kv


class BidirectionalEncoder(nn.Module):
    """Token + (learned or rotary) positions -> hidden states; every token sees every other, or
    (`suffix` > 0) the history sees only itself while the last `suffix` slots see everything."""

    def __init__(self, vocab_size, max_len, d_model, n_layers, n_heads, d_ff, dropout, position="learned"):
        super().__init__()
        if position not in ("learned", "rotary"):
            raise ValueError(f"position_embedding must be 'learned' or 'rotary', got '{position}'")
        self.position = position
        self.token_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model) if position == "learned" else None
        self.head_dim = d_model // n_heads
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor, suffix: int = 0) -> torch.Tensor:
        """tokens [B, L] (right-aligned: the last position is the newest), key_mask [B, L] -> [B, L, d]."""
        return self.forward_embedded(self.token_emb(tokens), key_mask, suffix)

    def forward_embedded(self, x: torch.Tensor, key_mask: torch.Tensor, suffix: int = 0,
                         layer_states: list | None = None) -> torch.Tensor:
        """Like `forward`, for inputs already embedded (x [B, L, d]), e.g. one vector per history item.

        suffix > 0: the history-only layout in one pass (training); `encode_prefix` + `encode_suffix`
        compute the same states with the history's keys/values cached (decoding). layer_states: a
        list that receives each block's output [B, L, d] (before the final norm), for heads that
        read an intermediate layer.
        """
        mask = key_mask[:, None, None, :] if suffix == 0 else layout_mask(key_mask, suffix)  # [B, 1, 1|L, L]
        x, rotary = self._positioned(x, before=0, after=0)
        for block in self.blocks:
            x, _ = block(x, mask, rotary)
            if layer_states is not None:
                layer_states.append(x)
        return self.norm(x)

    def encode_prefix(self, x: torch.Tensor, key_mask: torch.Tensor, suffix: int) -> list[KV]:
        """Each layer's keys/values of a history that attends only to itself, `suffix` slots before
        the end: computed once per user, reused by every decoding pass. x [U, T, d] -> per layer KV."""
        mask = layout_mask(key_mask, 0)  # [U, 1, T, T]
        x, rotary = self._positioned(x, before=0, after=suffix)
        memory = []
        for block in self.blocks:
            x, kv = block(x, mask, rotary)
            memory.append(kv)
        return memory

    def encode_suffix(self, x: torch.Tensor, memory: list[KV], key_mask: torch.Tensor,
                      layer_states: list | None = None) -> torch.Tensor:
        """States [N, S, d] of the last S slots (x [N, S, d]) given the cached history `memory`
        (per layer, [N, h, T, hd] x2); key_mask [N, T + S] covers history then slots; layer_states
        as in `forward_embedded` (the slots' states only)."""
        mask = key_mask[:, None, None, :]  # [N, 1, 1, T+S]
        x, rotary = self._positioned(x, before=key_mask.shape[1] - x.shape[1], after=0)
        for block, past in zip(self.blocks, memory):
            x, _ = block(x, mask, rotary, memory=past)
            if layer_states is not None:
                layer_states.append(x)
        return self.norm(x)

    def _positioned(self, x: torch.Tensor, before: int, after: int):
        """Add learned positions (counted from the right, so the target slots always get the same
        ones) or make rotary tables (counted from the left) for x [N, L, d] with `before` positions
        to its left and `after` to its right in the whole sequence."""
        length = x.shape[1]
        rotary = None
        if self.pos_emb is not None:
            positions = torch.arange(after + length - 1, after - 1, -1, device=x.device)  # [L]
            x = x + self.pos_emb(positions)[None]
        else:
            cos, sin = rotary_tables(before + length, self.head_dim, x.device)  # [before+L, hd/2]
            rotary = cos[before:], sin[before:]
        return self.drop(x), rotary
