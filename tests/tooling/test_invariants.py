"""Every invariant of perp/invariants.py fires on a planted state, naming the invariant, the subject and the exact
numbers, and stays silent on a consistent state (no chain: typed states built by hand)."""
from perp.core import Fund, MarketIndex, Position, ProtocolState, WAD, queue
from perp.invariants import (InvariantViolation, adl_fill, assert_ok, bystanders, check_state, counterparty_equity,
                             position_shape)

A, B, C = ("0x" + c * 40 for c in "abc")
SCALE = 10**12  # 6-decimal collateral
MARK = 2_000 * WAD
REF = 70  # the market's reference price 2^70 (1,180.59: a listing mark of 2,000 rounded down to a power of two)


def consistent() -> ProtocolState:
    """A long A and a short B of 1 ETH opened at 2,000 (cost basis +-2,000 units), 400 margin each, 100 free each."""
    u = 10**6
    positions = {(1, A): Position(WAD, 2_000 * u, 400 * u, 1), (1, B): Position(-WAD, -2_000 * u, 400 * u, 2)}
    queues = {(1, True): queue.Side(), (1, False): queue.Side()}
    for acct, is_long in ((A, True), (B, False)):
        queue.insert(queues[(1, is_long)], lambda a: positions.get((1, a)), acct, is_long, queue.ZERO, SCALE, REF)
    return ProtocolState(
        vault_balance=1_000 * u,
        free={A: 100 * u, B: 100 * u},
        positions=positions,
        funds={1: Fund(cash=0)},
        queues=queues,
        marks={1: MARK},
        scale=SCALE,
        queue_known=True,
        indices={1: MarketIndex(open_interest=WAD, reference_price=2**REF)},
    )


def test_a_consistent_state_has_no_finding():
    assert check_state(consistent(), after_keeper=True) == []


def test_conservation_fires_with_the_difference():
    s = consistent()
    s.vault_balance -= 7
    assert [str(f) for f in check_state(s)] == [
        "[conservation] vault: token balance 999999993 != free 200000000 + margins 800000000 + fund cash 0 - cost "
        "basis 0 + index balances 0 = 1000000000 (off by -7)"]


def test_balanced_book_fires_with_both_sides():
    s = consistent()
    s.positions[(1, A)].size = 2 * WAD
    found = [f for f in check_state(s) if f.invariant == "balanced_book"]
    assert [str(f) for f in found] == [f"[balanced_book] market 1: longs {2 * WAD} != shorts {WAD}",
                                       f"[balanced_book] market 1: open interest {WAD} != longs {2 * WAD}"]


def test_index_cover_fires_when_the_balance_cannot_pay_what_positions_are_owed():
    """The short side's index fell by 3 per unit of size since B's snapshot: B (1 ETH) is owed 3 tokens; an index
    balance of 2 units cannot pay it. With 3 tokens it can, and conservation counts the balance."""
    s = consistent()
    s.indices[1].short_index = -3 * WAD
    s.indices[1].index_balance = 2
    s.vault_balance += 2
    assert [str(f) for f in check_state(s)] == [
        f"[index_cover] market 1: index balance 2 does not cover what positions are owed ({3 * WAD * WAD} / D): "
        f"short by {3 * WAD * WAD - 2 * WAD * SCALE} / D"]
    s.indices[1].index_balance = 3 * 10**6
    s.vault_balance += 3 * 10**6 - 2
    assert check_state(s) == []


def test_fund_cash_fires_below_zero():
    s = consistent()
    s.funds[1] = Fund(cash=-5)
    s.vault_balance -= 5
    assert [str(f) for f in check_state(s)] == ["[fund_cash] market 1 fund: cash -5 < 0"]


# q = 400 per unit of size / 2^70 = 0.3388: r = floor(q * 2^23) = 2,842,170, octave 18, step 2: the tier's edge
# (8 + 2) * 2^18 / 2^23 = 0.3125 <= q < 0.34375
TIER = 1 + 8 * 18 + 2


def test_adl_queue_fires_on_a_missing_a_stale_and_a_misordered_position():
    s = consistent()
    assert s.positions[(1, A)].tier == queue.tier_of(400 * 10**6, WAD, REF, SCALE) == TIER
    s.queues[(1, True)] = queue.Side()  # A's position, but no queue entry
    assert [str(f) for f in check_state(s)] == [f"[adl_queue] market 1 long: queue holds [], positions ['{A}']"]
    s = consistent()
    s.queues[(1, True)].bitmap = 0  # the tier's head is set, its bit is not
    assert [str(f) for f in check_state(s)] == [f"[adl_queue] market 1 long: tier {TIER}: bitmap bit and head disagree"]
    s = consistent()
    s.positions[(1, B)].margin = 1_000 * 10**6  # q moved to 0.5 without a re-queue
    s.vault_balance += 600 * 10**6
    assert [str(f) for f in check_state(s)] == [f"[adl_queue] market 1 short: tier {TIER}: {B} sits at a stale tier or key"]
    s = consistent()
    c = (1, C)
    s.positions[c] = Position(WAD, 1_000 * 10**6, 400 * 10**6, 3)  # a second long at a lower entry, same tier
    s.positions[(1, B)].size, s.positions[(1, B)].open_notional = -2 * WAD, -3_000 * 10**6
    s.free[C] = 0
    s.vault_balance += 400 * 10**6 + 2_000 * 10**6 - 1_000 * 10**6 - 1_000 * 10**6
    side, get = s.queues[(1, True)], (lambda a: s.positions.get((1, a)))
    s.indices[1].open_interest = 2 * WAD
    queue.insert(side, get, C, True, A, SCALE, REF)  # placed by the rules: ahead of A (lower entry)
    assert side.tier_list(TIER, get) == [C, A]
    found = [str(f) for f in check_state(s) if f.invariant == "adl_queue"]
    assert found == [f"[adl_queue] market 1 short: tier {TIER}: {B} sits at a stale tier or key"]  # B changed, not moved
    # swap the two longs by hand: out of key order
    pa, pc = s.positions[(1, A)], s.positions[c]
    side.heads[TIER] = [A, pa.key]
    pa.prev, pa.next, pc.prev, pc.next = queue.ZERO, C, A, queue.ZERO
    assert f"[adl_queue] market 1 long: tier {TIER}: {C} out of key order" in [str(f) for f in check_state(s)]


def test_adl_queue_fires_on_a_position_listed_twice():
    s = consistent()
    side = s.queues[(1, True)]
    side.heads[queue.OVERFLOW] = [A, s.positions[(1, A)].key]  # also the overflow list's head, but linked in its tier
    side.bitmap |= 1 << queue.OVERFLOW
    found = [str(f) for f in check_state(s)]
    assert found == [f"[adl_queue] market 1 long: overflow list: {A} is not linked there"]


def test_an_overflow_entry_may_sit_at_a_stale_tier_and_key():
    """After a partial ADL cut a position waits in the overflow list with its old key: that is consistent."""
    s = consistent()
    side, get = s.queues[(1, True)], (lambda a: s.positions.get((1, a)))
    queue.to_overflow(side, get, A)
    s.positions[(1, A)].margin += 100 * 10**6
    s.vault_balance += 100 * 10**6
    assert side.tier_list(queue.OVERFLOW, get) == [A] and check_state(s) == []


def test_adl_queue_fires_on_a_head_key_kept_for_the_overflow_list():
    """The overflow list keeps no head key (its bound does not use one): a nonzero one is a wrong write."""
    s = consistent()
    side, get = s.queues[(1, True)], (lambda a: s.positions.get((1, a)))
    queue.to_overflow(side, get, A)
    assert side.head(queue.OVERFLOW) == [A, 0] and check_state(s) == []
    key = s.positions[(1, A)].key
    assert key != 0
    side.heads[queue.OVERFLOW][1] = key
    assert [str(f) for f in check_state(s)] == [f"[adl_queue] market 1 long: overflow list: head key {key} != 0"]


def test_position_shape_fires_on_a_stored_empty_position():
    s = consistent()
    s.positions[(1, C)] = Position(0, 0, -1, 3)
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
            "cost basis 0 + index balances 0 = 999999999 (off by 2)", "[fund_cash] market 1 fund: cash -1 < 0"]
    else:
        raise AssertionError("assert_ok did not raise")


def _fill(**kw):
    base = {"marketId": 1, "account": B, "adlType": 1, "sizeDelta": WAD, "price": 1_900 * WAD, "notional": 1_900,
            "score": 10**17, "rank": 1}
    base.update(kw)
    return base


LIQ = {"marketId": 1, "account": A, "size": WAD, "bankruptcyPrice": 1_900 * WAD, "markPrice": 1_800 * WAD,
       "equity": -100}  # a bankrupt long: Type 1 at its bankruptcy price
SOLVENT = {"marketId": 1, "account": A, "size": WAD, "bankruptcyPrice": 1_790 * WAD, "markPrice": 1_800 * WAD,
           "equity": 10}  # refused while it still had equity: Type 1 at mark


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


def test_a_refused_position_with_equity_is_closed_at_mark_with_the_exact_notional():
    at_mark = _fill(price=1_800 * WAD, notional=1_800)  # the counterparty (a short) buys 1 at mark
    assert adl_fill(at_mark, -WAD, None, SOLVENT, True, None, 10**18) == []
    assert adl_fill(_fill(price=1_790 * WAD, notional=1_790), -WAD, None, SOLVENT, True, None, 10**18) == [
        ("adl_price", f"Type 1 notional 1790 for {WAD} at mark {1_800 * WAD}"),
        ("adl_price", f"Type 1 at {1_790 * WAD} != mark (the refused position still had equity) {1_800 * WAD}")]
    assert adl_fill(_fill(price=1_800 * WAD, notional=1_799), -WAD, None, SOLVENT, True, None, 10**18) == [
        ("adl_price", f"Type 1 notional 1799 for {WAD} at mark {1_800 * WAD}")]


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
