"""masked_beam_search: hand-computed beams, catalogue constraints, batching, validation."""

import math

import pytest
import torch

from recbole_maskgr.decoding import SIDCatalogue, masked_beam_search


def table_fn(table, H, K, default=None):
    """log_prob_fn from a dict {partial tuple: [H][K] probabilities}; ignores the user."""
    default = default or [[0.6, 0.4] + [0.0] * (K - 2)] * H

    def fn(user_index, target):
        assert user_index.shape[0] == target.shape[0]
        rows = [torch.tensor(table.get(tuple(t.tolist()), default), dtype=torch.float64) for t in target]
        return torch.stack(rows).clamp(min=1e-300).log() if rows else torch.empty(0, H, K, dtype=torch.float64)

    return fn


U3 = [1 / 3] * 3
# H = 2, K = 3: base and conditional distributions (positions of fixed codes get a dummy row).
T2 = {
    (-1, -1): [[0.5, 0.3, 0.2], [0.1, 0.7, 0.2]],
    (0, -1): [U3, [0.6, 0.3, 0.1]],
    (1, -1): [U3, [0.25, 0.15, 0.6]],
    (2, -1): [U3, [0.3, 0.45, 0.25]],
    (-1, 0): [[0.2, 0.7, 0.1], U3],
    (-1, 1): [[0.4, 0.35, 0.25], U3],
    (-1, 2): [[0.15, 0.05, 0.8], U3],
}


def run(table, H, K, B, steps, order, **kw):
    kw.setdefault("invalid", "projection")
    return masked_beam_search(table_fn(table, H, K), 1, H, K, B, steps=steps, order=order, **kw)


def check(res, tokens, probs, nfe):
    B = len(tokens)
    assert res.tokens[0, :B].tolist() == tokens
    torch.testing.assert_close(res.scores[0, :B], torch.tensor([math.log(p) for p in probs], dtype=res.scores.dtype))
    assert res.nfe == nfe


@pytest.mark.parametrize(
    "order,steps,B,tokens,probs,nfe",
    [
        # left-to-right, one token per step: pos0 from base, pos1 from p(pos1 | pos0).
        ("left-to-right", [1, 1], 2, [[0, 0], [1, 2]], [0.5 * 0.6, 0.3 * 0.6], 2),
        ("left-to-right", [1, 1], 3, [[0, 0], [1, 2], [0, 1]], [0.30, 0.18, 0.15], 2),
        # one step: both positions from the base pass (product of marginals).
        ("left-to-right", [2], 2, [[0, 1], [1, 1]], [0.5 * 0.7, 0.3 * 0.7], 1),
        # top-prob: pos1 first (its best 0.7 beats pos0's 0.5), then p(pos0 | pos1).
        ("top-prob", [1, 1], 2, [[0, 1], [1, 1]], [0.7 * 0.4, 0.7 * 0.35], 2),
        ("top-prob", [1, 1], 3, [[0, 1], [1, 1], [2, 1]], [0.28, 0.245, 0.175], 2),
        ("top-prob", [2], 3, [[0, 1], [1, 1], [2, 1]], [0.35, 0.21, 0.14], 1),
    ],
)
def test_hand_table_h2(order, steps, B, tokens, probs, nfe):
    check(run(T2, 2, 3, B, steps, order), tokens, probs, nfe)


# H = 3, K = 2: top-prob picks different positions for different beams at step 2.
T3 = {
    (-1, -1, -1): [[0.55, 0.45], [0.52, 0.48], [0.53, 0.47]],
    (0, -1, -1): [[0.5, 0.5], [0.8, 0.2], [0.55, 0.45]],  # -> pos1
    (1, -1, -1): [[0.5, 0.5], [0.52, 0.48], [0.05, 0.95]],  # -> pos2
    (0, 0, -1): [[0.5, 0.5], [0.5, 0.5], [0.35, 0.65]],
    (1, -1, 1): [[0.5, 0.5], [0.25, 0.75], [0.5, 0.5]],
}


def test_hand_table_h3_top_prob_diverging_positions():
    res = run(T3, 3, 2, 2, [1, 1, 1], "top-prob")
    # step 2 candidates: (0,0,-) .44, (1,-,1) .4275, (0,1,-) .11, (1,-,0) .0225
    # step 3: (1,1,1) = .4275*.75, (0,0,1) = .44*.65
    check(res, [[1, 1, 1], [0, 0, 1]], [0.4275 * 0.75, 0.44 * 0.65], 3)
    assert res.rows == 1 + 2 + 2


def test_hand_table_h3_left_to_right():
    res = run(T3, 3, 2, 2, [1, 1, 1], "left-to-right")
    # (0,0) .44 and (1,0) .234 survive step 2; (1,0,-) uses the default [.6, .4] table.
    check(res, [[0, 0, 1], [0, 0, 0]], [0.44 * 0.65, 0.44 * 0.35], 3)


def test_hand_table_h3_mixed_schedule():
    res = run(T3, 3, 2, 2, [2, 1], "top-prob")
    # step 1 (base pass): pos0 (.55) then pos2 (.53): (0,-,0) .2915, (0,-,1) .2585 [(1,-,0) .2385]
    # step 2 uses the default table for both: pos1 token 0 (.6)
    check(res, [[0, 0, 0], [0, 0, 1]], [0.55 * 0.53 * 0.6, 0.55 * 0.47 * 0.6], 2)


CAT2 = torch.tensor([[0, 1], [1, 1], [2, 0], [0, 2]])


def test_constrained_renormalises_and_pads():
    cat = SIDCatalogue(CAT2, 3)
    res = run(T2, 2, 3, 2, [1, 1], "left-to-right", catalogue=cat, invalid="constrained")
    # (0,-): allowed {1,2} -> .3/.4 = .75; (1,-): only 1 allowed -> forced, costs nothing.
    check(res, [[0, 1], [1, 1]], [0.5 * 0.75, 0.3], 2)
    assert res.items[0].tolist() == [0, 1]
    res = run(T2, 2, 3, 5, [1, 1], "left-to-right", catalogue=cat, invalid="constrained")
    check(res, [[0, 1], [1, 1], [2, 0], [0, 2]], [0.375, 0.3, 0.2, 0.125], 2)
    assert res.items[0].tolist() == [0, 1, 2, 3, -1]
    assert res.scores[0, 4] == -math.inf and res.tokens[0, 4].tolist() == [-1, -1]


def test_constrained_top_prob_prefers_forced_position():
    cat = SIDCatalogue(torch.tensor([[0, 1], [1, 1], [2, 1]]), 3)
    res = run(T2, 2, 3, 2, [1, 1], "top-prob", catalogue=cat, invalid="constrained")
    # pos1 is forced to 1 (probability 1 after renormalisation) and filled before any pass,
    # so one pass with pos1 = 1 decides pos0: p(pos0 | pos1 = 1); the schedule's 2nd step is skipped.
    check(res, [[0, 1], [1, 1]], [0.4, 0.35], 1)


def test_projection_maps_and_deduplicates():
    cat = SIDCatalogue(CAT2, 3)
    res = run(T2, 2, 3, 3, [1, 1], "left-to-right", catalogue=cat, invalid="projection")
    # tuples (0,0) .30, (1,2) .18, (0,1) .15 -> items 0 (tie: lowest index), 1 (tie), 0 (dup, dropped)
    assert res.items[0].tolist() == [0, 1, -1]
    check(res, [[0, 0], [1, 2]], [0.30, 0.18], 2)
    assert res.scores[0, 2] == -math.inf


# ---------------------------------------------------------------- random properties
def random_fn(n_users, H, K, seed):
    """Deterministic, target-dependent log-probs, row-independent (so batching cannot matter)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n_users, H, K, generator=g) * 2
    Bt = torch.randn(H, K + 1, H, K, generator=g)

    def fn(user_index, target):
        logits = A[user_index].clone()  # [N, H, K]
        for j in range(H):
            logits += Bt[j, target[:, j] + 1]
        return logits.log_softmax(-1)

    return fn


def random_catalogue(seed, n, H, K):
    g = torch.Generator().manual_seed(seed)
    return torch.unique(torch.randint(0, K, (n, H), generator=g), dim=0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("order", ["top-prob", "left-to-right", "random"])
@pytest.mark.parametrize("steps", [None, "one", "split"])
def test_constrained_items_valid_and_distinct(seed, order, steps):
    H, K, B, U = 4, 5, 8, 6
    steps = {None: None, "one": [H], "split": [3, 1]}[steps]
    codes = random_catalogue(seed, 60 if seed % 2 else 9, H, K)
    cat = SIDCatalogue(codes, K)
    res = masked_beam_search(random_fn(U, H, K, seed), U, H, K, B, steps=steps, order=order,
                             catalogue=cat, invalid="constrained", generator=torch.Generator().manual_seed(seed))
    assert res.items.shape == (U, B) and res.tokens.shape == (U, B, H)
    valid = res.items >= 0
    assert torch.equal(valid, torch.isfinite(res.scores))
    assert valid[:, 0].all()
    assert (res.scores[:, :-1] >= res.scores[:, 1:]).all()
    for u in range(U):
        its = res.items[u][valid[u]]
        assert len(set(its.tolist())) == len(its)
        assert torch.equal(res.tokens[u][valid[u]], codes[its])
        if order == "left-to-right":  # no merging of fill orders: all reachable items fill the beams
            assert len(its) == min(B, len(codes))


@pytest.mark.parametrize("invalid", ["constrained", "projection"])
@pytest.mark.parametrize("order,steps", [("top-prob", None), ("top-prob", [2, 1, 1]), ("left-to-right", [1, 3])])
def test_batched_equals_one_by_one(invalid, order, steps):
    H, K, B, U = 4, 6, 7, 5
    codes = random_catalogue(11, 80, H, K)
    cat = SIDCatalogue(codes, K)
    fn = random_fn(U, H, K, 5)
    res = masked_beam_search(fn, U, H, K, B, steps=steps, order=order, catalogue=cat, invalid=invalid)
    for u in range(U):
        one = masked_beam_search(lambda ui, t: fn(ui + u, t), 1, H, K, B, steps=steps, order=order,
                                 catalogue=cat, invalid=invalid)
        assert torch.equal(one.items[0], res.items[u])
        assert torch.equal(one.tokens[0], res.tokens[u])
        torch.testing.assert_close(one.scores[0], res.scores[u], rtol=0, atol=1e-6)


def test_projection_items_distinct_and_calls_batched():
    H, K, B, U = 3, 4, 10, 4
    codes = random_catalogue(2, 20, H, K)
    calls = []
    fn = random_fn(U, H, K, 0)

    def counting(ui, t):
        calls.append(len(ui))
        return fn(ui, t)

    res = masked_beam_search(counting, U, H, K, B, catalogue=SIDCatalogue(codes, K), invalid="projection")
    assert res.nfe == len(calls) == H and calls[0] == U and calls[1] == U * min(B, K)
    assert res.rows == sum(calls)
    for u in range(U):
        its = res.items[u][res.items[u] >= 0].tolist()
        assert len(set(its)) == len(its)


def test_no_catalogue_projection_and_small_space():
    # K**H = 4 < B: beams padded; without a catalogue items stay -1.
    res = masked_beam_search(random_fn(2, 2, 2, 0), 2, 2, 2, 6, invalid="projection")
    assert (res.items == -1).all()
    assert torch.isfinite(res.scores[:, :4]).all() and (res.scores[:, 4:] == -math.inf).all()
    assert {tuple(t) for t in res.tokens[0, :4].tolist()} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_validation_errors():
    fn = random_fn(1, 2, 3, 0)
    cat = SIDCatalogue(CAT2, 3)
    with pytest.raises(ValueError, match="sum to H"):
        masked_beam_search(fn, 1, 2, 3, 2, steps=[1], catalogue=cat)
    with pytest.raises(ValueError, match="positive"):
        masked_beam_search(fn, 1, 2, 3, 2, steps=[3, -1], catalogue=cat)
    with pytest.raises(ValueError, match="beam_width"):
        masked_beam_search(fn, 1, 2, 3, 0, catalogue=cat)
    with pytest.raises(ValueError, match="order"):
        masked_beam_search(fn, 1, 2, 3, 2, order="right-to-left", catalogue=cat)
    with pytest.raises(ValueError, match="invalid"):
        masked_beam_search(fn, 1, 2, 3, 2, invalid="ignore", catalogue=cat)
    with pytest.raises(ValueError, match="needs a catalogue"):
        masked_beam_search(fn, 1, 2, 3, 2, invalid="constrained")
    with pytest.raises(ValueError, match="catalogue has"):
        masked_beam_search(fn, 1, 3, 3, 2, catalogue=cat)
    empty = masked_beam_search(fn, 0, 2, 3, 2, catalogue=cat)
    assert empty.items.shape == (0, 2) and empty.nfe == 0


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # CUDA joins where there is one


@pytest.mark.parametrize("device", DEVICES)
def test_search_state_on_a_device_matches_the_reference(device):
    """The catalogue's device holds the search state; results equal a plain CPU search."""
    H, K, B, U = 4, 6, 7, 5
    codes = random_catalogue(11, 80, H, K)
    fn = random_fn(U, H, K, 5)
    reference = masked_beam_search(fn, U, H, K, B, catalogue=SIDCatalogue(codes, K))
    moved = masked_beam_search(lambda ui, t: fn(ui.cpu(), t.cpu()).to(device), U, H, K, B,
                               catalogue=SIDCatalogue(codes.to(device), K))
    assert moved.items.device.type == device
    assert torch.equal(reference.items, moved.items.cpu())
    torch.testing.assert_close(reference.scores, moved.scores.cpu())
    assert (reference.items >= 0).all()


def test_constrained_search_skips_passes_for_complete_beams():
    """Beams that single out one item need no more encoder passes; the result is unchanged."""
    g = torch.Generator().manual_seed(3)
    H, K, n_items = 4, 16, 300
    codes = torch.unique(torch.randint(0, K, (n_items, H), generator=g), dim=0)
    cat = SIDCatalogue(codes, K)
    fn = random_fn(5, H, K, seed=4)
    res = masked_beam_search(fn, 5, H, K, 8, [1] * H, "left-to-right", catalogue=cat, invalid="constrained")
    # Every beam of every user is a real item, and far fewer rows than 1 + B*(H-1) per user ran.
    assert (res.items >= 0).all()
    assert res.rows < 5 * (1 + 8 * (H - 1))
    assert torch.equal(cat.codes[res.items], res.tokens)


def test_renormalised_confidence_in_probability_space_matches_log_space_even_when_it_underflows():
    from recbole_maskgr.decoding.masked_beam import _log_normaliser, _renormalised_confidence

    g = torch.Generator().manual_seed(0)
    lp = torch.randn(4, 3, 6, generator=g).log_softmax(-1)  # [N, H, K]
    lp[2, 1] = torch.tensor([-0.01, -200.0, -210.0, -5.0, -220.0, -6.0])  # allowed tokens below float32's range
    allowed = torch.rand(5, 3, 6, generator=g) < 0.5  # [L, H, K]
    allowed[:, :, 0] = False
    allowed[:, :, 4] = True  # at least one allowed token everywhere
    allowed[3, 1] = torch.tensor([False, True, True, False, True, False])  # only underflowing ones
    source = torch.tensor([0, 1, 3, 2, 2])  # beam -> row of lp
    confidence, log_norm = _renormalised_confidence(lp, lp.exp(), source, allowed)
    exact = torch.where(allowed, lp[source], float("-inf"))  # [L, H, K]
    want_norm = _log_normaliser(exact)
    assert torch.allclose(want_norm, exact.logsumexp(-1), atol=1e-5)
    assert torch.allclose(log_norm, want_norm, atol=1e-5)
    assert torch.allclose(confidence, exact.amax(-1) - want_norm, atol=1e-5)
    assert math.isclose(float(log_norm[3, 1]), -200.0 + math.log1p(math.exp(-10) + math.exp(-20)), rel_tol=1e-6)
