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


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"hidden_size ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x, key_mask, rotary=None):
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)  # [B, h, L, hd] x3
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        attn_mask = key_mask[:, None, None, :]  # [B, 1, 1, L]: True = may be attended
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )  # [B, h, L, hd]
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class EncoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, key_mask, rotary=None):
        x = x + self.drop(self.attn(self.norm1(x), key_mask, rotary))
        return x + self.drop(self.ff(self.norm2(x)))


class BidirectionalEncoder(nn.Module):
    """Token + (learned or rotary) positions -> hidden states; every token sees every other."""

    def __init__(self, vocab_size, max_len, d_model, n_layers, n_heads, d_ff, dropout, position="learned"):
        super().__init__()
        if position not in ("learned", "rotary"):
            raise ValueError(f"position_embedding must be 'learned' or 'rotary', got '{position}'")
        self.position = position
        self.token_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model) if position == "learned" else None
        self.head_dim = d_model // n_heads
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """tokens [B, L] (right-aligned: the last position is the newest), key_mask [B, L] -> [B, L, d]."""
        return self.forward_embedded(self.token_emb(tokens), key_mask)

    def forward_embedded(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Like `forward`, for inputs already embedded (x [B, L, d]), e.g. one vector per history item."""
        length = x.shape[1]
        rotary = None
        if self.pos_emb is not None:
            # count positions from the right so the target slots always get the same embeddings
            positions = torch.arange(length - 1, -1, -1, device=x.device)  # [L]
            x = x + self.pos_emb(positions)[None]
        else:
            rotary = rotary_tables(length, self.head_dim, x.device)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, key_mask, rotary)
        return self.norm(x)
