"""Semantic IDs: item text -> sentence embedding -> residual k-means codes -> de-dup digit.

Submodules are small and import nothing heavy until used: ``text`` (item text), ``encode``
(sentence-transformers), ``quantize`` (faiss), ``cache`` (on-disk cache), ``tokenizer``
(:class:`SIDTokenizer`, the one entry point). ``from recbole_maskgr.sid import SIDTokenizer`` works
and loads the submodule on first access.
"""

__all__ = ["SIDTokenizer"]


def __getattr__(name):
    if name == "SIDTokenizer":
        from .tokenizer import SIDTokenizer

        return SIDTokenizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
