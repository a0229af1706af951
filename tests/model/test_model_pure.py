"""The reference model alone (no chain): hand-checked numbers from the unit tests, error semantics, atomicity,
random scenarios with the model's own invariants, and its speed."""
import os

import pytest

from perp.model import (
    ADL_TYPE_FUND,
    WAD,
    InsufficientFreeCollateral,
    Match,
    ModelError,
    SimpleOrder,
    random_scenario,
    reference_model,
    score,
)

U = 10**6
T0 = 1_700_000_000
ALICE, BOB, CAROL, DEPLOYER, KEEPER = (f"0x{i:040x}" for i in (1, 2, 3, 4, 9))
MODEL_SCENARIOS = int(os.environ.get("MODEL_SCENARIOS", "2000"))


def w(x):
    from decimal import Decimal

    return int(Decimal(str(x)) * WAD)


class Book:
    def __init__(self, fund_seed):
        self.m = reference_model(6, fund_seed=fund_seed, now=T0)
        self.nonce = 0

    def trade(self, buyer, seller, size, price, lb=5 * WAD, ls=5 * WAD, mid=1):
        self.nonce += 2
        b = SimpleOrder(buyer, mid, True, size, price, lb, self.nonce, T0 + 10**6, False, self.m.order_epoch(buyer),
                        True)
        s = SimpleOrder(seller, mid, False, size, price, ls, self.nonce + 1, T0 + 10**6, False,
                        self.m.order_epoch(seller))
        self.m.settle(Match(b, s, size, price), T0)


def test_type2_book_matches_the_hand_computed_unit_test():
    """tests/unit/adl/test_adl_type2.py, same book: the fund takes alice at 1,909.75, then Type 2 at 900 pays
    ceil(q * 908.07) to carol (rank 1) and bob (rank 2) and leaves the fund flat with zero cash."""
    bk = Book(1000 * U)
    m = bk.m
    for a in (DEPLOYER, ALICE, BOB, CAROL):
        m.deposit(a, 5000 * U)
    bk.trade(ALICE, CAROL, w("0.6"), w(2000), w(20), w(10))
    bk.trade(ALICE, BOB, w("0.4"), w(2000), w(20), w(2))
    bk.trade(DEPLOYER, BOB, w("0.2"), w(2000), w(1), w(2))
    cash = 1000 * U + 840_000 + 560_000 + 280_000
    m.set_price(1, 1950 * 10**8, T0)
    m.liquidate(KEEPER, 1, ALICE, T0)
    assert m.fund(1)[:3] == (cash, w(1), 1_909_750_000)
    assert m.free_collateral(KEEPER) == 9_750_000
    m.set_price(1, 900 * 10**8, T0)
    m.deleverage_fund(KEEPER, 1, T0 + 1)
    p = w("908.07")
    fills = [d for n, d in m.events if n == "AdlFill"]
    assert fills == [
        {"marketId": 1, "account": CAROL, "adlType": ADL_TYPE_FUND, "sizeDelta": w("0.6"), "price": p,
         "notional": 544_842_000, "score": 660 * U * WAD // (660 * U + 120 * U), "rank": 1},
        {"marketId": 1, "account": BOB, "adlType": ADL_TYPE_FUND, "sizeDelta": w("0.4"), "price": p,
         "notional": 363_228_000, "score": 660 * U * WAD // (660 * U + 600 * U), "rank": 2},
    ]
    assert m.fund(1)[:3] == (0, 0, 0)
    assert m.position(1, BOB).as_tuple()[:3] == (-w("0.2"), -400 * U, 1_036_772_000 - 691_181_333)
    m.check()


def test_a_liquidation_cancels_the_liquidated_accounts_orders():
    """As LiquidationModule: one epoch bump (OrderEpochBumped) for the liquidated account, none for its
    counterparty or the keeper; a resting order signed before the liquidation is then stale."""
    bk = Book(1000 * U)
    m = bk.m
    for a in (ALICE, BOB):
        m.deposit(a, 5000 * U)
    bk.trade(ALICE, BOB, w(1), w(2000), w(20), w(2))
    resting = SimpleOrder(ALICE, 1, True, w(1), w(1950), w(5), 99, T0 + 10**6, False, m.order_epoch(ALICE), True)
    m.set_price(1, 1950 * 10**8, T0)
    m.events.clear()
    m.liquidate(KEEPER, 1, ALICE, T0)
    assert (m.order_epoch(ALICE), m.order_epoch(BOB), m.order_epoch(KEEPER)) == (1, 0, 0)
    assert [n for n, _ in m.events][:3] == ["FundWatermarkUpdated", "Liquidated", "OrderEpochBumped"]
    taker = SimpleOrder(BOB, 1, False, w(1), w(1950), w(2), 100, T0 + 10**6, False, m.order_epoch(BOB))
    with pytest.raises(ModelError) as exc:
        m.settle(Match(resting, taker, w(1), w(1950)), T0)
    assert exc.value.name == "OrderEpochStale"
    m.check()


def test_a_price_stamped_after_the_block_is_refused():
    m = reference_model(6, now=T0)
    m.set_price(1, 2000 * 10**8, T0 + 1)
    with pytest.raises(ModelError) as exc:
        m.mark_price(1, T0)
    assert exc.value == ModelError("OracleUpdatedInFuture", 1, T0 + 1, T0)
    assert m.mark_price(1, T0 + 1) == 2000 * WAD


def test_errors_carry_the_contract_arguments_and_format_like_support_err():
    m = reference_model(6, now=T0)
    with pytest.raises(InsufficientFreeCollateral) as exc:
        m.withdraw(ALICE, 5)
    assert exc.value == ModelError("InsufficientFreeCollateral", ALICE, 0, 5)
    assert str(exc.value) == f"InsufficientFreeCollateral: {ALICE}, 0, 5"
    assert isinstance(ModelError("ZeroAmount"), ModelError) and type(ModelError("ZeroAmount")).__name__ == "ZeroAmount"
    assert str(ModelError("OrderIsCancelled", b"\x01" * 32)) == "OrderIsCancelled: " + str(b"\x01" * 32)


def test_a_failing_settle_changes_nothing():
    """The maker's fill is applied before the taker's checks; a taker failure must roll it back (atomicity)."""
    bk = Book(0)
    m = bk.m
    m.deposit(ALICE, 1000 * U)
    m.deposit(BOB, 1 * U)
    before = m.snapshot()
    with pytest.raises(ModelError) as exc:
        bk.trade(ALICE, BOB, w(1), w(2000))
    assert exc.value.name == "InsufficientFreeCollateral"
    assert m.snapshot() == before and m.filled == {} and m.open_seq == 0


@pytest.mark.parametrize("decimals", [6, 18])
def test_random_scenarios_keep_the_model_invariants(decimals):
    for seed in range(MODEL_SCENARIOS // 2):
        random_scenario(seed, 40, decimals=decimals)

