"""Quantisers, de-dup digit and health figures on small hand-made embeddings."""

import logging

import numpy as np
import pytest

from recbole_maskgr.sid.quantize import (
    METHODS,
    add_dedup_digit,
    l2_normalize,
    quantize,
    residual_kmeans,
    sid_health,
)


def _two_level_data(n_per_group=30, seed=0):
    """Two well-separated clusters (along e0 and e1), each split in two by +/- e2.

    After level 0 (which must recover the cluster), the normalised residual points along +e2 or -e2
    whatever the cluster, so level 1 must recover the sign.
    """
    rng = np.random.default_rng(seed)
    d = 8
    rows, cluster, sign = [], [], []
    for c in (0, 1):
        for s in (+1, -1):
            base = np.zeros(d, dtype=np.float32)
            base[c] = 1.0
            base[2] = 0.3 * s
            pts = base + 0.01 * rng.standard_normal((n_per_group, d)).astype(np.float32)  # [m, d]
            rows.append(pts)
            cluster += [c] * n_per_group
            sign += [s] * n_per_group
    return np.concatenate(rows).astype(np.float32), np.array(cluster), np.array(sign)


def _is_bijection(codes, labels):
    """codes and labels induce the same partition."""
    pairs = set(zip(codes.tolist(), labels.tolist()))
    return len(pairs) == len(set(codes.tolist())) == len(set(labels.tolist()))


def test_residual_kmeans_recovers_clusters_then_residual_directions():
    emb, cluster, sign = _two_level_data()
    codes = residual_kmeans(emb, levels=2, codebook_size=2, seed=0, n_iter=20)  # [n, 2]
    assert codes.shape == (len(emb), 2) and codes.dtype == np.int64
    assert _is_bijection(codes[:, 0], cluster)  # level 0 = which cluster
    assert _is_bijection(codes[:, 1], sign)  # level 1 = the residual's direction, shared across clusters
    assert len({tuple(r) for r in codes.tolist()}) == 4


def test_quantize_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((400, 16)).astype(np.float32)
    for method in METHODS:
        a = quantize(emb, method, levels=3, codebook_size=8, seed=7, n_iter=10)
        b = quantize(emb, method, levels=3, codebook_size=8, seed=7, n_iter=10)
        assert np.array_equal(a, b), method
        assert a.shape == (400, 3) and a.min() >= 0 and a.max() < 8, method


def test_catalogue_smaller_than_codebook_warns_and_works(caplog):
    rng = np.random.default_rng(2)
    emb = rng.standard_normal((5, 16)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        codes = quantize(emb, "residual_kmeans", levels=2, codebook_size=16, seed=0)
    assert codes.shape == (5, 2) and codes.max() < 5
    assert len(set(codes[:, 0].tolist())) == 5  # 5 distinct points, 5 centroids
    assert any("only 5 items for a codebook of 16" in r.getMessage() for r in caplog.records)
    # a single item is fine too
    assert quantize(emb[:1], "kmeans", levels=2, codebook_size=16, seed=0).shape == (1, 2)


def test_quantize_rejects_bad_arguments():
    emb = np.ones((10, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="unknown sid_method"):
        quantize(emb, "pq", 2, 4, 0)
    with pytest.raises(ValueError, match="power-of-two"):
        quantize(emb, "rq", 2, 6, 0)
    with pytest.raises(ValueError, match="sid_levels"):
        quantize(emb, "residual_kmeans", 0, 4, 0)
    with pytest.raises(ValueError, match="sid_codebook_size"):
        quantize(emb, "residual_kmeans", 2, 1, 0)


def test_l2_normalize_keeps_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    assert np.allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0]])


HAND_CODES = np.array([[1, 2], [0, 0], [1, 2], [3, 3], [1, 2], [3, 3]])


def test_add_dedup_digit_hand_case():
    out = add_dedup_digit(HAND_CODES, codebook_size=4)
    assert out[:, :2].tolist() == HAND_CODES.tolist()
    assert out[:, 2].tolist() == [1, 0, 2, 1, 3, 2]  # groups numbered 1..N in item order, unique -> 0
    assert len({tuple(r) for r in out.tolist()}) == len(out)


def test_add_dedup_digit_reserve_zero_keeps_padding_sid_free():
    out = add_dedup_digit(HAND_CODES, codebook_size=4, reserve_zero=True)
    assert out[:, 2].tolist() == [1, 1, 2, 1, 3, 2]  # the lone (0, 0) item is moved off (0, 0, 0)
    assert not np.all(out == 0, axis=1).any()


def test_add_dedup_digit_group_too_large_raises():
    codes = np.array([[5, 5]] * 3 + [[1, 1]])
    assert add_dedup_digit(codes, codebook_size=4)[:, 2].tolist() == [1, 2, 3, 0]  # 3 = K-1: fits
    with pytest.raises(ValueError, match="sid_levels"):
        add_dedup_digit(codes, codebook_size=3)  # digit 3 would not be < K=3


def test_sid_health_hand_case():
    full = add_dedup_digit(HAND_CODES, codebook_size=4)
    h = sid_health(full, codebook_size=4)
    assert h["n_items"] == 6 and h["H"] == 3 and h["levels"] == 2
    assert h["collision_rate"] == pytest.approx(5 / 6)  # only the (0, 0) item is alone
    assert h["n_colliding_items"] == 5 and h["n_collision_groups"] == 2
    assert h["largest_group"] == 3 and h["max_dedup_digit"] == 3
    assert h["codes_used_per_level"] == [3, 3]  # level 0 {0,1,3}, level 1 {0,2,3}
    assert h["unique_sids"] is True
