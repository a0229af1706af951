"""The coverage check of the differential and stateful runs (``reached.py``) bites: each counter, at zero, fails the
check with a table naming it; a run without Type 2 calls, or a tiny run, fails it; and every event kind is counted
where it belongs. The runs here are the differential driver's on ``model_harness.ModelHarness`` (the harness on the
model alone, a fraction of a second each), with the default run's seeds."""
import pytest

from driver import Driver
from model_harness import ModelHarness
from reached import ALL, STATES, Coverage, NotReached

DEPLOYMENTS = ((6, 0), (18, 500))  # as conftest.CONFIGS: dec6-fund0, dec18-fund500


def default_run(steps=40, seeds=range(3), patch=None) -> Coverage:
    """The default differential run (3 seeds x 40 actions x 2 deployments, same driver seeds) on the model."""
    total = Coverage()
    for decimals, fund in DEPLOYMENTS:
        for seed in seeds:
            h = ModelHarness(decimals, fund)
            if patch:
                patch(h)
            d = Driver(h, seed * 7919 + decimals)
            d.setup()
            for _ in range(steps):
                d.step()
            h.model.check()
            total.merge(h.coverage)
    return total


@pytest.fixture(scope="module")
def full():
    cov = default_run()
    assert not cov.missing(), cov.table("the default run on the model")
    return cov


@pytest.mark.parametrize("key", ALL)
def test_each_state_reached_zero_times_fails_the_check_naming_it(full, key):
    cov = Coverage().merge(full)
    cov.assert_reached("the run")  # every state reached: passes
    cov.counts[key] = 0
    desc = dict(STATES)[key]
    with pytest.raises(NotReached) as exc:
        cov.assert_reached("the run")
    msg = str(exc.value)
    assert msg.startswith(f"the run never reached: {key}\n")
    assert [line for line in msg.splitlines() if "NOT REACHED" in line] == \
        [f"  {desc:<46}{0:>7}  yes   <- NOT REACHED"]


def test_a_run_without_type2_calls_fails_the_check_on_every_type2_state():
    def no_type2(h):
        h.deleverage_fund = lambda mid, keeper=None: (None, None, None)

    cov = default_run(patch=no_type2)
    missing = cov.missing()
    assert {"type2_fill", "type2_InsufficientAdlCapacity", "type2_FundNotDistressed", "type2_FundFlat"} <= set(missing)
    with pytest.raises(NotReached, match="Type 2 fill +0  yes   <- NOT REACHED"):
        cov.assert_reached("a run without deleverageFund")


def test_a_tiny_run_fails_the_check():
    cov = default_run(steps=2, seeds=range(1))
    assert len(cov.missing()) >= 8, cov.table("two actions")
    with pytest.raises(NotReached, match="NOT REACHED"):
        cov.assert_reached("two actions per deployment")


def test_each_event_kind_is_counted_where_it_belongs():
    cov = Coverage()
    events = [("Liquidated", {"equity": -5}), ("FundRefused", {"reason": 1}), ("FundRefused", {"reason": 2}),
              ("FundRefused", {"reason": 3}), ("FundAccepted", {}), ("AdlFill", {"adlType": 1}),
              ("AdlFill", {"adlType": 1}), ("AdlFill", {"adlType": 2}), ("AdlRemainderToFund", {}),
              ("Liquidated", {"equity": 0}), ("Trade", {}), ("FundingAccrued", {}), ("IndexSettled", {"amount": 0}),
              ("IndexSettled", {"amount": -3})]
    cov.observe("liquidateBatch(1, 3)", events, None, {1: False, 2: True}, {1: True, 2: False}, partial_fills=2)
    for err in ("InsufficientAdlCapacity: 1, 5, 0", "FundNotDistressed: 1, 0, 0, 0", "FundFlat: 1"):
        cov.observe("deleverageFund(1)", [], err, {1: False}, {1: True})
    cov.observe("settle[...]", [], "FundFlat: 1", {1: False}, {1: True})  # not a Type 2 call: not counted
    assert cov.counts == {
        "accepted": 1, "refused_NegativeEquity": 1, "refused_RiskLimit": 1, "refused_Drawdown": 1,
        "bankrupt_liquidated": 1, "type1_fill": 2, "type1_remainder": 1, "type2_fill": 1,
        "type2_InsufficientAdlCapacity": 1, "type2_FundNotDistressed": 1, "type2_FundFlat": 1,
        "latch_set": 1, "latch_cleared": 1, "partial_fill": 2, "funding_accrued": 1, "index_settled": 1,
    }
    assert cov.actions == 5
