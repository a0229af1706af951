"""The metrics on inputs computed by hand."""
from fractions import Fraction

import pytest

from perp.lab import gini, kendall_tau, run_metrics, top_k_overlap
from perp.lab.metrics import EventMetrics, top_share


def test_gini_of_known_vectors():
    # (1, 2, 3, 4): sum over ordered pairs of |xi - xj| = 2 * (1 + 2 + 3 + 1 + 2 + 1) = 20; 2 n^2 mean = 2*16*2.5 = 80.
    assert gini([4, 1, 3, 2]) == Fraction(20, 80)
    assert gini([0, 0, 0, 5]) == Fraction(3, 4)  # one holds everything: (n - 1) / n
    assert gini([7, 7, 7]) == 0
    assert gini([0, 0]) is None and gini([]) is None
    with pytest.raises(ValueError):
        gini([-1, 2])


def test_top_shares():
    assert top_share([5, 3, 2], 1) == Fraction(1, 2)
    assert top_share(list(range(1, 13)), 10) == Fraction(sum(range(3, 13)), 78)  # 75/78: all but 1 and 2
    assert top_share([0, 0], 1) is None


def test_rank_stability():
    # tau-a over the common items of (a, b, c) and (a, c, b): pairs ab +, ac +, bc - -> (2 - 1) / 3.
    assert kendall_tau(["a", "b", "c"], ["a", "c", "b"]) == Fraction(1, 3)
    assert kendall_tau(["a", "b", "c"], ["c", "b", "a"]) == -1
    assert kendall_tau(["a", "x"], ["a", "y"]) is None  # one common item
    # top-2 of (a, b, c) is {a, b}, of (b, d) is {b, d}: one in common over min(2, 2, 2).
    assert top_k_overlap(["a", "b", "c"], ["b", "d"], 2) == Fraction(1, 2)
    assert top_k_overlap(["a"], ["a", "b"], 2) == 1  # over min(2, 1, 2) = 1
    assert top_k_overlap([], ["a"], 2) is None


def _ev(haircuts, order, covered=0, shortfall=0):
    pos = sum(max(h, 0) for h in haircuts.values())
    neg = sum(max(-h, 0) for h in haircuts.values())
    net = pos - neg
    return EventMetrics("p", 1, 1, shortfall, covered, 0, 0, haircuts, pos, neg, max(0, net - covered),
                        max(0, covered - net), len(haircuts), len(haircuts), None, None, None, None, None, None, None,
                        None, order)


def test_run_metrics_sum_events_and_measure_stability():
    e1 = _ev({"a": 30, "b": 10}, ["a", "b"], covered=39, shortfall=39)  # overshoot 1
    e2 = _ev({"b": 20, "c": -5}, ["b", "c"], covered=16, shortfall=16)  # net 15: undershoot 1
    r = run_metrics([e1, e2], k=1)
    assert (r.shortfall, r.covered, r.haircut_total, r.windfall_total) == (55, 55, 60, 5)
    assert (r.overshoot, r.undershoot) == (1, 1)  # not netted against each other
    assert r.haircuts == {"a": 30, "b": 30, "c": -5}
    assert r.accounts_hit == 3
    assert r.gini == gini([30, 30, 0])  # c's windfall counts as 0
    assert r.top_k_overlap_mean == 0  # top-1 a vs b
    assert r.kendall_tau_mean is None  # only b in common


def test_kendall_tau_equals_the_pair_count_definition():
    """The merge-sort count of discordant pairs equals counting every pair, on random orders."""
    import random

    def by_pairs(a, b):
        common = [x for x in a if x in set(b)]
        m = len(common)
        if m < 2:
            return None
        pos = {x: i for i, x in enumerate(b)}
        s = sum(1 if pos[common[i]] < pos[common[j]] else -1 for i in range(m) for j in range(i + 1, m))
        return Fraction(s, m * (m - 1) // 2)

    rng = random.Random(7)
    for _ in range(300):
        a = rng.sample(range(25), rng.randint(0, 25))
        b = rng.sample(range(25), rng.randint(0, 25))
        assert kendall_tau(a, b) == by_pairs(a, b)
