"""Embedding -> tuple of small integer codes (the semantic ID), plus the de-duplication digit.

Three quantisers, one entry point :func:`quantize`:

- ``residual_kmeans`` (the reference): before each level the current residual is L2-normalised,
  k-means with K centroids is fitted on it, every item is assigned to its nearest centroid and the
  next residual is ``normalised residual - assigned centroid``. Levels are fitted one after another,
  so level 0 captures the coarse topic and later levels refine it.
- ``rq``: faiss' ``ResidualQuantizer`` on the L2-normalised embedding, greedy (beam 1): residual
  k-means *without* the per-level normalisation. K must be a power of two.
- ``kmeans``: independent k-means per level on disjoint parts of the embedding: the d dimensions are
  split into ``levels`` contiguous chunks (as in product quantisation), each chunk is L2-normalised
  and clustered on its own. The levels are not hierarchical: a baseline to compare against.

k-means is faiss' (Lloyd iterations over all items) seeded with greedy k-means++ (as the reference).
All are seeded and deterministic for a fixed seed and thread count. faiss' own small-data warnings
(it wants 39 points per centroid) are switched off; we log one clear message instead. A catalogue
smaller than the codebook uses min(K, n) centroids.
"""

from __future__ import annotations

import logging
import math

import faiss
import numpy as np

logger = logging.getLogger(__name__)

METHODS = ("residual_kmeans", "rq", "kmeans")
ALGORITHM_VERSION = f"kmeans++-greedy/1 faiss-{faiss.__version__}"
"""Part of the SID cache key: a change of the algorithm or of faiss must not reuse old code tables."""
_FAISS_POINTS_PER_CENTROID = 39  # below this faiss prints a warning; we report it ourselves


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero (a residual can vanish exactly)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)  # [n, 1]
    return (x / np.maximum(norm, eps)).astype(np.float32)  # [n, d]


def _effective_k(n: int, codebook_size: int, what: str) -> int:
    """min(K, n), with a warning when the catalogue is smaller than the codebook."""
    if n < codebook_size:
        logger.warning(
            f"{what}: only {n} items for a codebook of {codebook_size} codes; "
            f"fitting {n} centroids (codes {n}..{codebook_size - 1} stay unused)"
        )
        return n
    if n < _FAISS_POINTS_PER_CENTROID * codebook_size:
        logger.info(
            f"{what}: {n} items for {codebook_size} centroids "
            f"(< {_FAISS_POINTS_PER_CENTROID} per centroid); centroids may be noisy"
        )
    return codebook_size


def kmeans_plus_plus_init(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Greedy k-means++ seeding: k centroids [k, d] picked from the rows of ``x`` [n, d].

    Each new centroid is the best (lowest total squared distance) of ``2 + ln k`` candidates drawn
    with probability proportional to the squared distance to the nearest centroid so far. Random
    initial centroids (faiss' default) can leave two centroids in one well-separated cluster and
    never recover; this seeding is what the reference implementation uses.
    """
    rng = np.random.default_rng(seed)
    n, d = x.shape
    trials = 2 + int(np.log(k))
    sq = np.einsum("nd,nd->n", x, x)  # [n]
    centroids = np.empty((k, d), dtype=np.float32)  # [k, d]
    first = int(rng.integers(n))
    centroids[0] = x[first]
    closest = np.maximum(sq - 2.0 * (x @ x[first]) + sq[first], 0.0)  # [n] squared distance to nearest
    for i in range(1, k):
        total = float(closest.sum())
        if total > 0.0:
            cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total)  # [t]
            cand = np.minimum(cand, n - 1)
        else:  # every point already coincides with a centroid (duplicates): any choice is as good
            cand = rng.integers(n, size=trials)
        dist = np.maximum(sq[:, None] - 2.0 * (x @ x[cand].T) + sq[cand][None, :], 0.0)  # [n, t]
        potential = np.minimum(closest[:, None], dist).sum(axis=0)  # [t]
        best = int(np.argmin(potential))
        centroids[i] = x[cand[best]]
        closest = np.minimum(closest, dist[:, best])  # [n]
    return centroids


def _kmeans_assign(x: np.ndarray, k: int, seed: int, n_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit faiss k-means (k-means++ seeded) on all of ``x`` [n, d]; return (assignments [n], centroids [k, d])."""
    n, d = x.shape
    km = faiss.Kmeans(
        d,
        k,
        niter=n_iter,
        seed=seed,
        verbose=False,
        min_points_per_centroid=1,  # no faiss stderr warning; _effective_k logs instead
        max_points_per_centroid=max(n, 1),  # train on every item, no subsampling
    )
    km.train(x, init_centroids=kmeans_plus_plus_init(x, k, seed))
    _, assign = km.index.search(x, 1)  # [n, 1]
    return assign[:, 0].astype(np.int64), km.centroids.copy()  # [n], [k, d]


def residual_kmeans(
    emb: np.ndarray, levels: int, codebook_size: int, seed: int, n_iter: int = 25
) -> np.ndarray:
    """Residual k-means codes int64 [n, levels] for embeddings [n, d] (see module docstring)."""
    emb = np.ascontiguousarray(emb, dtype=np.float32)  # [n, d]
    n = emb.shape[0]
    k = _effective_k(n, codebook_size, "residual_kmeans")
    codes = np.zeros((n, levels), dtype=np.int64)  # [n, L]
    residual = emb
    for level in range(levels):
        normed = l2_normalize(residual)  # [n, d]
        # A different seed per level, so levels fitted on similar data do not start alike.
        assign, centroids = _kmeans_assign(normed, k, seed + level, n_iter)  # [n], [k, d]
        codes[:, level] = assign
        residual = normed - centroids[assign]  # [n, d]
    return codes


def plain_kmeans(
    emb: np.ndarray, levels: int, codebook_size: int, seed: int, n_iter: int = 25
) -> np.ndarray:
    """Independent k-means per contiguous chunk of dimensions; codes int64 [n, levels]."""
    emb = np.ascontiguousarray(emb, dtype=np.float32)  # [n, d]
    n, d = emb.shape
    if d < levels:
        raise ValueError(f"kmeans: embedding dimension {d} is smaller than sid_levels={levels}")
    k = _effective_k(n, codebook_size, "kmeans")
    codes = np.zeros((n, levels), dtype=np.int64)  # [n, L]
    for level, dims in enumerate(np.array_split(np.arange(d), levels)):
        chunk = l2_normalize(np.ascontiguousarray(emb[:, dims]))  # [n, d_l]
        codes[:, level], _ = _kmeans_assign(chunk, k, seed + level, n_iter)
    return codes


def faiss_residual_quantizer(
    emb: np.ndarray, levels: int, codebook_size: int, seed: int, n_iter: int = 25
) -> np.ndarray:
    """faiss ``ResidualQuantizer`` codes int64 [n, levels]; ``codebook_size`` must be a power of two."""
    nbits = int(round(math.log2(codebook_size)))
    if 2**nbits != codebook_size:
        raise ValueError(f"method 'rq' needs a power-of-two sid_codebook_size, got {codebook_size}")
    emb = l2_normalize(np.ascontiguousarray(emb, dtype=np.float32))  # [n, d]
    n, d = emb.shape
    k = _effective_k(n, codebook_size, "rq")
    nbits = max(1, int(math.floor(math.log2(max(k, 2)))))
    if n < 2**nbits:
        raise ValueError(f"method 'rq' needs at least 2 items, got {n}")
    rq = faiss.ResidualQuantizer(d, levels, nbits)
    rq.verbose = False
    # Greedy encoding and plain training: beam search and progressive-dimension training cost
    # 10-20x more time for a small gain in reconstruction error, which SIDs do not need.
    rq.max_beam_size = 1
    rq.train_type = faiss.ResidualQuantizer.Train_default
    rq.cp.seed = seed
    rq.cp.niter = n_iter
    rq.cp.min_points_per_centroid = 1
    rq.cp.max_points_per_centroid = max(n, 1)
    rq.train(emb)
    packed = rq.compute_codes(emb)  # [n, code_size] uint8
    return faiss.unpack_bitstrings(packed, [nbits] * levels).astype(np.int64)  # [n, L]


_QUANTIZERS = {
    "residual_kmeans": residual_kmeans,
    "rq": faiss_residual_quantizer,
    "kmeans": plain_kmeans,
}


def quantize(
    emb: np.ndarray, method: str, levels: int, codebook_size: int, seed: int, n_iter: int = 25
) -> np.ndarray:
    """Codes int64 [n, levels] for embeddings [n, d] with ``method`` in :data:`METHODS`."""
    if method not in _QUANTIZERS:
        raise ValueError(f"unknown sid_method {method!r}; choose one of {list(METHODS)}")
    if levels < 1:
        raise ValueError(f"sid_levels must be >= 1, got {levels}")
    if codebook_size < 2:
        raise ValueError(f"sid_codebook_size must be >= 2, got {codebook_size}")
    if emb.ndim != 2 or emb.shape[0] == 0:
        raise ValueError(f"quantize needs a non-empty [n, d] array, got shape {emb.shape}")
    return _QUANTIZERS[method](emb, levels, codebook_size, int(seed), int(n_iter))


def _tuple_groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group index per row [n], group sizes [g]) for identical rows of ``codes`` [n, L]."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts  # [n], [g]


def add_dedup_digit(
    codes: np.ndarray, codebook_size: int, reserve_zero: bool = False
) -> np.ndarray:
    """Append the de-duplication digit: [n, L] -> [n, L+1], every full row unique.

    Items whose L-tuple is unique get 0; a group of N items sharing a tuple gets 1..N in item order.
    With ``reserve_zero`` the all-zero SID is kept free for padding (row 0 of the dataset's table):
    items whose L-tuple is all zeros are numbered 1..N even when alone.
    The digit must stay below ``codebook_size``; a larger group raises ValueError.
    """
    codes = np.asarray(codes, dtype=np.int64)  # [n, L]
    n = codes.shape[0]
    dedup = np.zeros(n, dtype=np.int64)  # [n]
    if n == 0:
        return np.concatenate([codes, dedup[:, None]], axis=1)
    group, counts = _tuple_groups(codes)  # [n], [g]
    zero_rows = np.all(codes == 0, axis=1)  # [n]
    numbered = (counts[group] > 1) | (zero_rows if reserve_zero else False)  # [n]
    # Rank of each item inside its group, in item order: stable sort by group, then position.
    order = np.argsort(group, kind="stable")  # [n]
    sorted_group = group[order]  # [n]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])  # [g]
    rank_sorted = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))  # [n], 0-based
    rank = np.empty(n, dtype=np.int64)  # [n]
    rank[order] = rank_sorted
    dedup[numbered] = rank[numbered] + 1
    if dedup.max() > codebook_size - 1:
        worst = int(counts.max())
        raise ValueError(
            f"{worst} items share one semantic ID, but the de-duplication digit must stay below "
            f"sid_codebook_size={codebook_size}; increase sid_levels (or sid_codebook_size)"
        )
    return np.concatenate([codes, dedup[:, None]], axis=1)  # [n, L+1]


def sid_health(codes_with_dedup: np.ndarray, codebook_size: int) -> dict:
    """Health figures of a code table [n, L+1] (last column = dedup digit).

    collision_rate is the share of items whose L-tuple (before the dedup digit) is shared with
    another item; codes_used_per_level counts distinct codes at each of the L quantiser levels.
    """
    codes_with_dedup = np.asarray(codes_with_dedup, dtype=np.int64)  # [n, L+1]
    n, h = codes_with_dedup.shape
    base = codes_with_dedup[:, :-1]  # [n, L]
    group, counts = _tuple_groups(base)  # [n], [g]
    in_collision = counts[group] > 1  # [n]
    return {
        "n_items": int(n),
        "H": int(h),
        "levels": int(h - 1),
        "codebook_size": int(codebook_size),
        "collision_rate": float(in_collision.mean()) if n else 0.0,
        "n_colliding_items": int(in_collision.sum()),
        "n_collision_groups": int((counts > 1).sum()),
        "largest_group": int(counts.max()) if n else 0,
        "max_dedup_digit": int(codes_with_dedup[:, -1].max()) if n else 0,
        "codes_used_per_level": [int(np.unique(base[:, lv]).size) for lv in range(h - 1)],
        "unique_sids": int(np.unique(codes_with_dedup, axis=0).shape[0]) == n,
    }
