"""Every invariant of perp/invariants.py fires on a planted state, naming the invariant, the subject and the exact
numbers, and stays silent on a consistent state (no chain: typed states built by hand)."""
from perp.core import Fund, Position, ProtocolState, WAD
from perp.invariants import (InvariantViolation, adl_fill, assert_ok, bystanders, check_state, counterparty_equity,
                             position_shape)

A, B, C = ("0x" + c * 40 for c in "abc")
SCALE = 10**12  # 6-decimal collateral
MARK = 2_000 * WAD


def consistent() -> ProtocolState:
    """A long A and a short B of 1 ETH opened at 2,000 (cost basis +-2,000 units), 400 margin each, 100 free each."""
    u = 10**6
    return ProtocolState(
        vault_balance=1_000 * u,
        free={A: 100 * u, B: 100 * u},
        positions={(1, A): Position(WAD, 2_000 * u, 400 * u, 1, 0), (1, B): Position(-WAD, -2_000 * u, 400 * u, 2, 0)},
        funds={1: Fund(cash=0)},
        sides={(1, True): [A], (1, False): [B]},
        marks={1: MARK},
        scale=SCALE,
        index_known=True,
    )


def test_a_consistent_state_has_no_finding():
    assert check_state(consistent(), after_keeper=True) == []


def test_conservation_fires_with_the_difference():
    s = consistent()
    s.vault_balance -= 7
    assert [str(f) for f in check_state(s)] == [
        "[conservation] vault: token balance 999999993 != free 200000000 + margins 800000000 + fund cash 0 - cost "
        "basis 0 = 1000000000 (off by -7)"]


def test_balanced_book_fires_with_both_sides():
    s = consistent()
    s.positions[(1, A)].size = 2 * WAD
    found = [f for f in check_state(s) if f.invariant == "balanced_book"]
    assert [str(f) for f in found] == [f"[balanced_book] market 1: longs {2 * WAD} != shorts {WAD}"]


def test_fund_cash_fires_below_zero():
    s = consistent()
    s.funds[1] = Fund(cash=-5)
    s.vault_balance -= 5
    assert [str(f) for f in check_state(s)] == ["[fund_cash] market 1 fund: cash -5 < 0"]


def test_side_lists_fire_on_a_missing_a_duplicated_and_a_misplaced_account():
    s = consistent()
    s.sides[(1, True)] = []
    assert [str(f) for f in check_state(s)] == [f"[side_lists] market 1 long: [] vs ['{A}']"]
    s = consistent()
    s.sides[(1, False)] = [B, B]
    assert [str(f) for f in check_state(s)] == [f"[side_lists] market 1 short: ['{B}', '{B}'] vs ['{B}']"]
    s = consistent()
    s.positions[(1, B)].list_index = 3
    assert [str(f) for f in check_state(s)] == [f"[side_lists] market 1 short: {B} is at place 0 but its position "
                                                f"says 3"]


def test_position_shape_fires_on_a_stored_empty_position():
    s = consistent()
    s.positions[(1, C)] = Position(0, 0, -1, 3, 1)
    assert [str(f) for f in position_shape(s)] == [f"[position_shape] {C} in market 1: stored position with size 0",
                                                   f"[position_shape] {C} in market 1: margin -1 < 0"]
    assert "position_shape" in {f.invariant for f in check_state(s)}


def test_no_bad_debt_fires_after_the_keeper_and_spares_pending_positions():
    s = consistent()
    s.marks[1] = 1_500 * WAD  # A: 400 margin - 500 loss = -100 equity
    found = check_state(s, after_keeper=True)
    assert [str(f) for f in found] == [f"[no_bad_debt] {A} in market 1: equity -100000000 < 0"]
    assert check_state(s) == []  # only after a keeper's pass
    assert check_state(s, after_keeper=True, exempt={(1, A)}) == []
    s.marks[1] = None  # an unusable oracle: no equity to judge
    assert check_state(s, after_keeper=True) == []


def test_bystander_fires_when_free_collateral_moved():
    s = consistent()
    assert bystanders({A.upper().replace("0X", "0x"): 100 * 10**6}, s) == []
    assert [str(f) for f in bystanders({C: 5}, s)] == [f"[bystander] {C}: free collateral 0 != 5 at start"]


def test_assert_ok_raises_an_assertion_error_with_every_finding():
    s = consistent()
    s.vault_balance += 1
    s.funds[1] = Fund(cash=-1)
    try:
        assert_ok(s)
    except InvariantViolation as exc:
        assert isinstance(exc, AssertionError)
        assert [str(f) for f in exc.findings] == [
            "[conservation] vault: token balance 1000000001 != free 200000000 + margins 800000000 + fund cash -1 - "
            "cost basis 0 = 999999999 (off by 2)", "[fund_cash] market 1 fund: cash -1 < 0"]
    else:
        raise AssertionError("assert_ok did not raise")


def _fill(**kw):
    base = {"marketId": 1, "account": B, "adlType": 1, "sizeDelta": WAD, "price": 1_900 * WAD, "notional": 1_900,
            "score": 10**17, "rank": 1}
    base.update(kw)
    return base


LIQ = {"marketId": 1, "account": A, "size": WAD, "bankruptcyPrice": 1_900 * WAD, "markPrice": 1_800 * WAD}


def test_adl_rules_accept_a_correct_type1_fill():
    assert adl_fill(_fill(), -WAD, None, LIQ, True, None, 10**18) == []


def test_adl_rules_fire_each_with_its_name():
    assert adl_fill(_fill(), -WAD, None, LIQ, False, None, 10**18) == [
        ("adl_trigger", "Type 1 fill without a liquidation the fund refused")]
    assert adl_fill(_fill(price=1_901 * WAD), -WAD, None, LIQ, True, None, 10**18) == [
        ("adl_price", f"Type 1 at {1_901 * WAD} != bankruptcy price {1_900 * WAD}")]
    assert adl_fill(_fill(sizeDelta=-WAD), WAD, None, LIQ, True, None, 10**18) == [
        ("adl_side", f"Type 1 fill {-WAD} on the bankrupt position's side ({WAD})")]
    assert adl_fill(_fill(), WAD, None, LIQ, True, None, 10**18)[0] == (
        "adl_side", f"fill of {WAD} against a position of {WAD} (must reduce it)")
    assert adl_fill(_fill(score=0), -WAD, None, LIQ, True, None, 10**18) == [
        ("adl_eligible", "cut with score 0 (u <= 0)")]
    last = _fill(rank=2, score=10**16)
    assert adl_fill(_fill(rank=3, score=10**17), -WAD, last, LIQ, True, None, 10**18) == [
        ("adl_order", f"score {10**17} cut after rank 2 score {10**16}")]


def test_type2_rules_check_the_notional_and_the_fund_bankruptcy_price():
    fund = Fund(cash=100, size=WAD, open_notional=2_000)  # a long fund: selling below 1,900 makes its cash negative
    fill = _fill(adlType=2, sizeDelta=WAD, price=1_950 * WAD, notional=1_950)  # counterparty buys from the fund
    assert adl_fill(fill, -WAD, None, None, False, fund, 10**18) == []
    low = _fill(adlType=2, sizeDelta=WAD, price=1_899 * WAD, notional=1_899)
    assert adl_fill(low, -WAD, None, None, False, fund, 10**18) == [
        ("adl_price", f"Type 2 at {1_899 * WAD} below the fund's bankruptcy price {1_900 * WAD}")]
    wrong = _fill(adlType=2, sizeDelta=WAD, price=1_950 * WAD, notional=1_949)
    assert adl_fill(wrong, -WAD, None, None, False, fund, 10**18) == [
        ("adl_price", f"Type 2 notional 1949 != 1950 for {WAD} at {1_950 * WAD}")]
    assert adl_fill(fill, -WAD, None, LIQ, True, fund, 10**18)[0] == ("adl_trigger", "Type 2 fill inside a liquidation")


def test_a_type1_counterparty_left_below_zero_equity_is_reported():
    assert counterparty_equity(-WAD, -2_000, 50, 2_100 * WAD, 10**18) == [
        ("adl_counterparty_equity", f"equity -50 < 0 at mark {2_100 * WAD} after its Type 1 fill")]
    assert counterparty_equity(-WAD, -2_000, 150, 2_100 * WAD, 10**18) == []
