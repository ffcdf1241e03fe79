"""Decoding for MaskGR: catalogue constraints, masked beam search and item scoring (pure torch)."""

from .constraints import SIDCatalogue
from .masked_beam import BeamResult, masked_beam_search
from .scoring import items_from_beams, marginal_item_scores, rerank_beams

__all__ = ["SIDCatalogue", "BeamResult", "masked_beam_search", "items_from_beams", "marginal_item_scores", "rerank_beams"]
