"""SIDCatalogue vs brute force on small random catalogues."""

import itertools

import pytest
import torch

from recbole_maskgr.decoding import constraints as C
from recbole_maskgr.decoding import SIDCatalogue


def random_catalogue(seed, n, H, K, skew=False):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, K, (n, H), generator=g)
    if skew:  # few values at the first positions -> many items share each fixed pattern
        codes[:, 0] = torch.randint(0, 2, (n,), generator=g)
        codes[:, 1] = torch.randint(0, 2, (n,), generator=g)
    codes = torch.unique(codes, dim=0)
    return codes[torch.randperm(len(codes), generator=g)]


def random_fixed(codes, M, K, g, p_mask):
    rows = codes[torch.randint(0, len(codes), (M,), generator=g)].clone()  # consistent rows
    rows[: M // 4] = torch.randint(0, K, (M // 4, codes.shape[1]), generator=g)  # often inconsistent
    rows[torch.rand(rows.shape, generator=g) < p_mask] = -1
    return rows


def brute_allowed(codes, fixed, K):
    M, H = fixed.shape
    out = torch.zeros(M, H, K, dtype=torch.bool)
    for m in range(M):
        ok = ((codes == fixed[m]) | (fixed[m] < 0)).all(1)
        for item in codes[ok]:
            out[m, torch.arange(H), item] = True
    return out


@pytest.mark.parametrize("seed,n,H,K,skew", [(0, 40, 3, 4, False), (1, 200, 4, 5, False), (2, 300, 5, 6, True), (3, 7, 2, 3, False)])
@pytest.mark.parametrize("p_mask", [0.2, 0.5, 0.8])
def test_allowed_tokens_matches_brute_force(seed, n, H, K, skew, p_mask):
    codes = random_catalogue(seed, n, H, K, skew)
    cat = SIDCatalogue(codes, K)
    g = torch.Generator().manual_seed(seed + 100)
    fixed = random_fixed(codes, 120, K, g, p_mask)
    got = cat.allowed_tokens(fixed)
    assert got.shape == (120, H, K) and got.dtype == torch.bool
    assert torch.equal(got, brute_allowed(codes, fixed, K))


def test_allowed_tokens_every_pattern_and_chunking(monkeypatch):
    codes = random_catalogue(5, 150, 4, 3, skew=True)
    cat = SIDCatalogue(codes, 3)
    item = codes[7]
    rows = []
    for pattern in itertools.product([False, True], repeat=4):
        r = item.clone()
        r[~torch.tensor(pattern)] = -1
        rows.append(r)
    fixed = torch.stack(rows)
    monkeypatch.setattr(C, "_PAIR_BUDGET", 5)  # force many chunks in the range scatter
    got = cat.allowed_tokens(fixed)
    assert torch.equal(got, brute_allowed(codes, fixed, 3))
    # Fixed positions allow exactly their own value; the full tuple allows only itself.
    assert torch.equal(got[-1], torch.nn.functional.one_hot(item, 3).bool())


def test_allowed_tokens_inconsistent_row_all_false_and_empty():
    codes = torch.tensor([[0, 1], [1, 0]])
    cat = SIDCatalogue(codes, 2)
    got = cat.allowed_tokens(torch.tensor([[0, 0], [-1, -1], [0, -1]]))
    assert not got[0].any()
    assert torch.equal(got[1], torch.ones(2, 2, dtype=torch.bool))
    assert torch.equal(got[2], torch.tensor([[True, False], [False, True]]))
    assert cat.allowed_tokens(torch.empty(0, 2, dtype=torch.long)).shape == (0, 2, 2)


def test_lookup_and_project_match_brute_force():
    codes = random_catalogue(9, 300, 4, 5)
    cat = SIDCatalogue(codes, 5)
    g = torch.Generator().manual_seed(1)
    full = torch.randint(0, 5, (400, 4), generator=g)
    full[:100] = codes[torch.randint(0, len(codes), (100,), generator=g)]
    full[100:110, 2] = -1
    look = cat.lookup(full)
    proj = cat.project(full)
    for m in range(len(full)):
        eq = (codes == full[m]).all(1).nonzero().flatten()
        assert look[m].item() == (eq[0].item() if len(eq) else -1)
        agree = (codes == full[m]).sum(1)
        assert proj[m].item() == int((agree == agree.max()).nonzero()[0])  # lowest index among ties
    assert (look[:100] >= 0).all() and torch.equal(proj[:100], look[:100])


def test_project_chunking(monkeypatch):
    codes = random_catalogue(4, 100, 3, 6)
    cat = SIDCatalogue(codes, 6)
    full = torch.randint(0, 6, (50, 3), generator=torch.Generator().manual_seed(0))
    want = cat.project(full)
    monkeypatch.setattr(C, "_PROJECT_BUDGET", 1)  # one row per chunk
    assert torch.equal(cat.project(full), want)


def test_catalogue_validation():
    with pytest.raises(ValueError, match="duplicate"):
        SIDCatalogue(torch.tensor([[0, 1], [0, 1]]), 2)
    with pytest.raises(ValueError, match=r"\[0, K"):
        SIDCatalogue(torch.tensor([[0, 2]]), 2)
    with pytest.raises(ValueError, match="int64"):
        SIDCatalogue(torch.zeros(1, 8, dtype=torch.long), 256)
    cat = SIDCatalogue(torch.tensor([[0, 1]]), 2)
    with pytest.raises(ValueError):
        cat.allowed_tokens(torch.tensor([[0, 2]]))
    with pytest.raises(ValueError):
        cat.lookup(torch.tensor([[0, 1, 1]]))
