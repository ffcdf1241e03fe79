"""marginal_item_scores and items_from_beams."""

import math

import pytest
import torch

from recbole_maskgr.decoding import items_from_beams, marginal_item_scores


def test_marginal_item_scores_matches_loop():
    g = torch.Generator().manual_seed(0)
    lp = torch.randn(4, 3, 5, generator=g).log_softmax(-1)
    codes = torch.randint(0, 5, (11, 3), generator=g)
    got = marginal_item_scores(lp, codes)
    want = torch.zeros(4, 11)
    for u in range(4):
        for i in range(11):
            want[u, i] = sum(lp[u, j, codes[i, j]] for j in range(3))
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError):
        marginal_item_scores(lp, codes[:, :2])


def test_items_from_beams_orders_beams_first_then_fallback():
    fallback = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, -math.inf],
                             [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    items = torch.tensor([[4, 2, 4, -1], [-1, -1, -1, -1]])
    scores = torch.tensor([[-1.0, -2.5, -3.0, -math.inf], [-math.inf] * 4])
    out = items_from_beams(items, scores, fallback)
    assert out.shape == (2, 6) and torch.isfinite(out).all()
    # user 0: beam items 4 (best copy, -1.0) then 2, then the rest by fallback; -inf fallback last
    assert out[0].argsort(descending=True).tolist() == [4, 2, 0, 1, 3, 5]
    assert out[0, 4] - out[0, 2] == pytest.approx(1.5)  # beam score differences kept
    # user 1: no beams -> pure fallback order
    assert out[1].argsort(descending=True).tolist() == [5, 4, 3, 2, 1, 0]


def test_items_from_beams_all_finite_random():
    g = torch.Generator().manual_seed(3)
    U, n, B = 7, 30, 5
    fallback = torch.randn(U, n, generator=g)
    fallback[fallback < -1.5] = -math.inf
    items = torch.randint(-1, n, (U, B), generator=g)
    scores = torch.randn(U, B, generator=g).sort(1, descending=True).values * 10
    out = items_from_beams(items, scores, fallback)
    assert torch.isfinite(out).all()
    for u in range(U):
        beam = {int(i) for i in items[u] if i >= 0}
        top = out[u].argsort(descending=True)[: len(beam)].tolist()
        assert set(top) == beam
        best = {}
        for i, s in zip(items[u].tolist(), scores[u].tolist()):
            if i >= 0:
                best[i] = max(best.get(i, -math.inf), s)
        assert top == sorted(best, key=lambda i: -best[i])
