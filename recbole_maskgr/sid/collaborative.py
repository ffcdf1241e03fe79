"""Item vectors from interactions alone: a SID source for datasets without item text.

Items that the same users interact with get similar vectors: positive PMI of the item-item
co-occurrence counts (over users' training histories), factorised by a truncated SVD
(``scipy.sparse.linalg.svds``), each item's vector L2-normalised. The residual k-means and the
de-dup digit then run on these vectors exactly as on text embeddings. Callers pass only the
training split's interactions: a validation or test interaction must never shape an item's SID.
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

DEFAULT_DIM = 64


def cooccurrence(users: np.ndarray, items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Number of users who interacted with both i and j (i != j): [n_items, n_items], symmetric.

    users, items: one entry per interaction (repeats of a pair count once).
    """
    _, user_rows = np.unique(users, return_inverse=True)  # [n] dense user index
    presence = sp.csr_matrix(
        (np.ones(len(items), dtype=np.float64), (user_rows, items)), shape=(int(user_rows.max()) + 1, n_items)
    )  # [U, n_items]
    presence.data[:] = 1.0  # duplicates summed on construction: back to "interacted at all"
    counts = (presence.T @ presence).tocsr()  # [n_items, n_items]
    counts.setdiag(0)
    counts.eliminate_zeros()
    return counts


def positive_pmi(counts: sp.csr_matrix) -> sp.csr_matrix:
    """max(0, log(c_ij * total / (c_i * c_j))) over the non-zero counts."""
    coo = counts.tocoo()
    marginal = np.asarray(counts.sum(axis=1)).ravel()  # [n]
    total = marginal.sum()
    pmi = np.log(coo.data * total / (marginal[coo.row] * marginal[coo.col]))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)


def collaborative_embeddings(users, items, n_items: int, dim: int = DEFAULT_DIM, seed: int = 2020) -> np.ndarray:
    """float32 [n_items, dim'] unit item vectors (dim' = min(dim, n_items - 2)).

    Items without any training co-occurrence get a random unit vector (seeded): nothing is known
    of them, and identical vectors would pile them all onto one SID.
    """
    users, items = np.asarray(users), np.asarray(items)
    if len(items) == 0:
        raise ValueError("collaborative SIDs need training interactions, but the training split is empty")
    weights = positive_pmi(cooccurrence(users, items, n_items))  # [n, n]
    k = max(1, min(dim, n_items - 2))
    rng = np.random.default_rng(seed)
    start = rng.uniform(size=n_items)  # fixed ARPACK start: the same vectors every run
    left, singular, _ = svds(weights, k=k, v0=start)  # [n, k], [k]
    vectors = left * np.sqrt(singular)  # [n, k]
    norms = np.linalg.norm(vectors, axis=1)  # [n]
    unseen = norms < 1e-12  # [n]
    vectors[unseen] = rng.normal(size=(int(unseen.sum()), k))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def interactions_digest(users, items) -> str:
    """sha256 of the (user, item) pairs, for cache keys: another split gives another key."""
    pairs = np.unique(np.stack([np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)], 1), axis=0)
    return hashlib.sha256(pairs.tobytes()).hexdigest()
