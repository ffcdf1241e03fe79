"""SIDTokenizer: item texts -> semantic-ID code table, with an on-disk cache and a health report.

One object ties the stages together (encode -> quantise -> de-duplicate) so that the dataset hook, the
CLI and the tests all build SIDs the same way. Every setting is a plain constructor argument (no
RecBole Config here), arguments are validated before any slow work, and each stage is timed: the
seconds go into the report next to the health figures.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import torch

from recbole_maskgr.settings import sid_length

from .cache import SIDCache, make_key
from .encode import DEFAULT_ENCODER, canonical_encoder_name, encode_texts
from .quantize import ALGORITHM_VERSION, METHODS, add_dedup_digit, quantize, sid_health

logger = logging.getLogger(__name__)


def table_problem(codes, n: int, sid_length: int, codebook_size: int, reserve_zero: bool) -> str | None:
    """What keeps `codes` from being a usable [n, sid_length] SID table, or None: the rules every built table
    obeys (a cache file whose checksum was recomputed after editing must obey them too)."""
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        return "not an integer code table"
    if tuple(codes.shape) != (n, sid_length):
        return f"of shape {tuple(codes.shape)}, expected ({n}, {sid_length})"
    table = codes.long()  # [n, H]
    outside = (table < 0) | (table >= codebook_size)  # [n, H]
    if bool(outside.any()):
        row, level = (int(i) for i in outside.nonzero()[0])
        return f"holding code {int(table[row, level])} at level {level} (item {row}), outside [0, {codebook_size})"
    unique, inverse, counts = torch.unique(table, dim=0, return_inverse=True, return_counts=True)
    if len(unique) < n:
        first, second = (int(i) for i in (inverse == int((counts > 1).nonzero()[0])).nonzero()[:2, 0])
        return f"holding duplicate SIDs ({n - len(unique)} rows repeat another, e.g. items {first} and {second})"
    if reserve_zero and bool((table == 0).all(1).any()):
        return "holding the all-zero SID, which is reserved for padding"
    return None


def vectors_problem(vectors, n: int) -> str | None:
    """What keeps `vectors` from being usable item embeddings [n, d], or None."""
    if not isinstance(vectors, torch.Tensor) or not vectors.is_floating_point() or vectors.dim() != 2:
        return "not a float [items, dim] matrix"
    if vectors.shape[0] != n:
        return f"of {vectors.shape[0]} rows, expected {n}"
    bad = ~torch.isfinite(vectors)  # [n, d]
    if bool(bad.any()):
        return f"holding {int(bad.sum())} non-finite values (NaN or inf), e.g. in item {int(bad.any(1).nonzero()[0])}"
    return None


class SIDTokenizer:
    """Build an ``[n, levels + 1]`` SID table (last column = de-dup digit) for a list of item texts.

    Args:
        text_encoder: sentence-transformers model name or path (default: offline all-MiniLM-L6-v2).
        levels: quantiser levels L (H = L + 1 with the de-dup digit).
        codebook_size: K codes per level; the de-dup digit also stays below K.
        method: one of ``residual_kmeans``, ``rq``, ``kmeans`` (see :mod:`.quantize`).
        n_iter: k-means iterations per level.
        seed: k-means seed.
        cache_dir: folder for cached embeddings and code tables; None disables caching.
        device, batch_size, show_progress: passed to the text encoder.
        reserve_zero: keep the all-zero SID free (it is the padding row of the dataset's table).
    """

    def __init__(
        self,
        text_encoder: str = DEFAULT_ENCODER,
        levels: int = 4,
        codebook_size: int = 256,
        method: str = "residual_kmeans",
        n_iter: int = 25,
        seed: int = 2020,
        cache_dir: str | None = None,
        device: str = "cpu",
        batch_size: int = 256,
        show_progress: bool = True,
        reserve_zero: bool = True,
    ):
        for name, value, low in (
            ("sid_levels", levels, 1),
            ("sid_codebook_size", codebook_size, 2),
            ("sid_kmeans_iters", n_iter, 1),
            ("sid_encode_batch_size", batch_size, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if method not in METHODS:
            raise ValueError(f"unknown sid_method {method!r}; choose one of {list(METHODS)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"sid_seed must be an integer, got {seed!r}")
        if not isinstance(text_encoder, str) or not text_encoder:
            raise ValueError(f"sid_text_encoder must be a model name or path, got {text_encoder!r}")
        self.text_encoder = text_encoder
        self.levels = int(levels)
        self.codebook_size = int(codebook_size)
        self.method = method
        self.n_iter = int(n_iter)
        self.seed = int(seed)
        self.cache = SIDCache(cache_dir) if cache_dir else None
        self.device = str(device)
        self.batch_size = int(batch_size)
        self.show_progress = show_progress
        self.reserve_zero = reserve_zero

    @property
    def sid_length(self) -> int:
        """H: quantiser levels plus the de-dup digit."""
        return sid_length(self.levels)

    def embedding_key(self, texts: Sequence[str]) -> str:
        """The cache key of the texts' embeddings (also part of keys built on them)."""
        return make_key("emb", texts, encoder=canonical_encoder_name(self.text_encoder))

    def stored_embedding_key(self, texts: Sequence[str]) -> str:
        """The cache file's key: the distinct texts, sorted (one stored row each)."""
        return self._distinct_rows_key(sorted(set(texts)))

    def _distinct_rows_key(self, distinct: list[str]) -> str:
        """The key of texts already distinct and sorted (`embed` has them so; no second sort)."""
        return make_key("emb", distinct, encoder=canonical_encoder_name(self.text_encoder), rows="distinct-sorted")

    def _codes_key(self, texts: Sequence[str]) -> str:
        return make_key("sid", texts, encoder=canonical_encoder_name(self.text_encoder), **self._settings_key_params())

    @staticmethod
    def _check_texts(texts: Sequence[str]) -> list[str]:
        if texts is None or len(texts) == 0:
            raise ValueError("SIDTokenizer: the item text list is empty; there is nothing to tokenize")
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise ValueError(f"SIDTokenizer: texts must be strings; item {bad[0]} is {texts[bad[0]]!r}")
        return texts

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, str]:
        """Embeddings float32 [n, d] for ``texts`` and where they came from (``hit``, ``miss``, ``off``).

        The cache holds one row per distinct text, in sorted order, so the same catalogue numbered
        another way (another split, a filtered copy) finds its vectors instead of encoding again."""
        texts = self._check_texts(texts)
        distinct = sorted(set(texts))
        place = {text: row for row, text in enumerate(distinct)}
        rows = torch.tensor([place[text] for text in texts], dtype=torch.long)  # [n]
        key = self._distinct_rows_key(distinct)
        cached = self.cache.load("emb", key) if self.cache is not None else None
        if cached is not None:
            problem = vectors_problem(cached.get("emb"), len(distinct))
            if problem is None:
                return cached["emb"][rows].numpy(), "hit"
            self.cache.discard("emb", key, problem)
        emb = encode_texts(
            distinct, self.text_encoder, device=self.device, batch_size=self.batch_size,
            show_progress=self.show_progress,
        )  # [distinct, d]
        if self.cache is not None:
            self.cache.save("emb", key, {"emb": torch.from_numpy(emb)})
        return emb[rows.numpy()], ("miss" if self.cache is not None else "off")

    def _settings_key_params(self) -> dict:
        """What besides the input vectors determines the codes."""
        return dict(levels=self.levels, codebook_size=self.codebook_size, method=self.method, n_iter=self.n_iter,
                    seed=self.seed, reserve_zero=self.reserve_zero, algorithm=ALGORITHM_VERSION)

    def fit_transform(self, texts: Sequence[str]) -> tuple[torch.Tensor, dict]:
        """SID table LongTensor [n, levels + 1] for ``texts`` (row i = item i) and a report dict.

        The report holds the health figures of :func:`.quantize.sid_health`, ``seconds`` per stage,
        ``cache`` (``hit``/``miss``/``off`` for embeddings and codes) and ``cache_file``.
        """
        texts = self._check_texts(texts)
        return self._codes(self._codes_key(texts), len(texts), lambda: self.embed(texts), "text")

    def fit_transform_vectors(self, n: int, vectors, source: str, source_key: str) -> tuple[torch.Tensor, dict]:
        """Like `fit_transform`, for item vectors from elsewhere (e.g. collaborative ones).

        vectors: a callable returning (float32 [n, d], where they came from), called only on a
        cache miss; source_key: a digest of everything the vectors depend on (source and split).
        """
        key = make_key("sid", [source_key], source=source, **self._settings_key_params())
        return self._codes(key, n, vectors, source)

    def _table_problem(self, codes, n: int) -> str | None:
        return table_problem(codes, n, self.sid_length, self.codebook_size, self.reserve_zero)

    def _codes(self, key: str, n: int, vectors, source: str) -> tuple[torch.Tensor, dict]:
        """Cached codes under `key`, or vectors() -> quantise -> de-dup digit (then cached)."""
        seconds = {}
        report = {"encoder": self.text_encoder if source != "collaborative" else None, "method": self.method,
                  "seed": self.seed, "source": source}

        t0 = time.perf_counter()
        cached = self.cache.load("sid", key) if self.cache is not None else None
        seconds["cache_lookup"] = time.perf_counter() - t0
        if cached is not None:
            codes = cached.get("codes")
            problem = self._table_problem(codes, n)
            if problem is None:
                report["cache"] = {"codes": "hit", "embeddings": "not needed"}
                report["cache_file"] = self.cache.path("sid", key)
                report.update(sid_health(codes.numpy(), self.codebook_size))
                report["seconds"] = seconds
                return codes.long(), report
            self.cache.discard("sid", key, problem)

        t0 = time.perf_counter()
        emb, emb_source = vectors()  # [n, d]
        seconds["encode"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        base = quantize(emb, self.method, self.levels, self.codebook_size, self.seed, self.n_iter)  # [n, L]
        seconds["quantize"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        full = add_dedup_digit(base, self.codebook_size, reserve_zero=self.reserve_zero)  # [n, L+1]
        seconds["dedup"] = time.perf_counter() - t0

        codes = torch.from_numpy(full).long()  # [n, H]
        problem = self._table_problem(codes, n)
        if problem is not None:  # cannot happen unless the quantiser is broken: never cache or train on it
            raise RuntimeError(f"The SID table just built is {problem}.")
        report["cache"] = {"codes": "miss" if self.cache is not None else "off", "embeddings": emb_source}
        if self.cache is not None:
            t0 = time.perf_counter()
            report["cache_file"] = self.cache.save("sid", key, {"codes": codes}) or "not written"
            seconds["cache_write"] = time.perf_counter() - t0
        report.update(sid_health(full, self.codebook_size))
        report["embedding_dim"] = int(emb.shape[1])
        report["seconds"] = seconds
        return codes, report
