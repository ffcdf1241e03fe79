"""The rules that turn the paper-claims measurements into verdicts (benchmarks/claims), on cases
worked out by hand: a verdict on the page is only as good as these."""

import pytest

from benchmarks.claims.evaluation import grows_with_k
from benchmarks.claims.next_k import joint_beats_twice, pair_hits
from benchmarks.claims.verdicts import combined, two_standard_errors


def test_two_standard_errors_of_a_difference_by_hand():
    # pooled p = 0.05, 2 * sqrt(2 * 0.05 * 0.95 / 1000) = 2 * sqrt(0.000095)
    assert two_standard_errors(0.04, 0.06, 1000) == pytest.approx(2 * 0.000095**0.5)


def test_parts_combine_into_one_verdict():
    assert combined(["holds", "holds"]) == "holds"
    assert combined(["does not hold", "does not hold"]) == "does not hold"
    assert combined(["holds", "does not hold"]) == "partly"
    assert combined(["partly", "holds"]) == "partly"


def test_the_gap_grows_with_k_only_when_gap_and_ratio_grow():
    tiger = [0.01 * k for k in range(1, 51)]
    assert grows_with_k([0.01 * k**1.1 for k in range(1, 51)], tiger) == "holds"  # gap and ratio grow
    assert grows_with_k([0.02 * k for k in range(1, 51)], tiger) == "partly"  # the gap grows, the ratio stays 2x
    assert grows_with_k([0.01 * k - 0.0001 * k for k in range(1, 51)], tiger) == "does not hold"  # behind, more so


def test_joint_decoding_verdict_needs_two_standard_errors():
    twice = {"both-items@10": 0.0009}
    verdict, noise = joint_beats_twice({"both-items@10": 0.0017}, twice, 22363)
    assert noise == pytest.approx(2 * (2 * 0.0013 * 0.9987 / 22363) ** 0.5)
    assert verdict == "holds"  # +0.0008 against about 0.00068
    assert joint_beats_twice({"both-items@10": 0.0012}, twice, 22363)[0] == "cannot tell"
    assert joint_beats_twice({"both-items@10": 0.0001}, twice, 22363)[0] == "does not hold"


def test_pair_hits_by_hand():
    import torch

    pairs = torch.tensor([[[1, 2], [3, 4]], [[5, 6], [2, 1]]])  # [U=2, B=2, 2]
    scores = torch.tensor([[0.0, -1.0], [0.0, float("-inf")]])  # user 2's second pair is dead
    truth = torch.tensor([[3, 4], [1, 2]])
    hits = pair_hits(pairs, scores, truth)
    assert hits["ordered@1"] == 0.0 and hits["ordered@5"] == 0.5  # user 1's second pair, in order
    assert hits["set@5"] == 0.5  # user 2's swapped pair is dead, so it does not count
    assert hits["both-items@1"] == 0.0 and hits["both-items@5"] == 0.5
