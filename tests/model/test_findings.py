"""Findings: behaviours where the contracts (and the model, which agrees with them step by step) break a property
the README states. Each scenario runs through the differential harness, so every step is also checked against
the model. ``test_finding_*`` pins the observed behaviour with exact numbers (it fails once the contract changes,
so the finding gets revisited); ``test_property_*`` asserts the README's property and is ``xfail(strict=True,
raises=PropertyViolated)``: only that assertion may fail, and it turns into an XPASS failure once fixed.

Negative fund cash that Type 2 cannot repair. README: "only one path can push [fund cash] below zero, a Type 1
remainder that nets against an opposite fund position at a realized loss beyond its cash; the fund is then in
distress and Type 2 (capped at its bankruptcy price) brings it back to >= 0". When the remainder closes the fund's
opposite position completely (or flips it), the whole loss is realized at once and the fund is left flat (or with
only the new position), so Type 2 has nothing (or not that loss) to recover: ``deleverageFund`` reverts
``FundFlat`` and the cash stays negative until someone tops it up. The vault then holds less than the accounts'
claims: once everyone has closed, the last account to withdraw its free collateral cannot
(``ERC20InsufficientBalance`` from the token). The pure model finds this path in about 2% of random 60-step
scenarios (``python -m perp.model`` style runs with crashes, see the report).

Type 2 at price zero (fixed). ``_fundTradePrice`` capped a short fund's buy-back price at its bankruptcy price
``(cash - openNotional) / size``, floored at 0: when the fund's cash deficit exceeded what it received for its
short (reachable after the first finding), Type 2 made the eligible longs sell to the fund for nothing. Now a
fund whose cash is already negative trades at mark (no price can keep its cash >= 0 then); the tests below pin
that.
"""
import pytest

from harness import Harness
from perp.model import WAD
from scripts.deploy import deploy_devnet
from support import Env

U = 10**6


class PropertyViolated(AssertionError):
    pass


@pytest.fixture(scope="module")
def env0(signers):
    return Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=0), list(signers))


def ok(result):
    assert result[2] is None, result[2]


def negative_cash_scenario(env0):
    """ETH-PERP, empty fund. Returns the harness after the second liquidation (every step checked)."""
    h = Harness(env0)
    alice, bob, carol, dave, erin, grace = (env0.signers[i] for i in (1, 2, 3, 4, 5, 7))
    ETH = env0.ETH
    for a in (alice, bob, carol, dave, erin, grace):
        ok(h.deposit(a, 5000 * U))

    def trade(buyer, seller, price, lev_b, lev_s):
        b = h.order(buyer, ETH, True, WAD, price * WAD, lev_b * WAD)
        s = h.order(seller, ETH, False, WAD, price * WAD, lev_s * WAD)
        ok(h.settle([(b, s, WAD, price * WAD, None, None)]))

    trade(alice, bob, 2000, 5, 20)  # bob short 1 @ 2,000, margin 100: bankrupt at 2,100
    h.set_price(ETH, 2100 * 10**8)
    trade(carol, alice, 2200, 2, 5)  # alice closes; carol long 1 @ 2,200 (underwater at 2,110: not eligible)
    h.set_price(ETH, 2110 * 10**8)
    ok(h.liquidate(ETH, bob))  # fund refuses (NegativeEquity), no eligible long: the fund takes short 1 @ 2,100
    assert h.model.fund(ETH)[1:3] == (-WAD, -2100 * U)
    h.set_price(ETH, 2300 * 10**8)
    trade(dave, erin, 2300, 20, 5)  # dave long 1 @ 2,300, margin 115: bankrupt at 2,185
    h.set_price(ETH, 2200 * 10**8)
    trade(erin, grace, 2180, 5, 5)  # erin closes; grace short 1 @ 2,180 (u = 0 at 2,180: not eligible)
    h.set_price(ETH, 2180 * 10**8)
    ok(h.liquidate(ETH, dave))  # refused (Drawdown), no eligible short: the fund buys 1 back at 2,185
    return h


def test_finding_type1_remainder_leaves_a_flat_fund_with_negative_cash(env0):
    h = negative_cash_scenario(env0)
    ETH = env0.ETH
    alice, bob, carol, dave, erin, grace = (env0.signers[i] for i in (1, 2, 3, 4, 5, 7))
    # The fees (maker 2 bps + taker 5 bps: 2.94 of the trades at 2,000 and 2,200 before bob's liquidation, 1.61 +
    # 1.526 of those at 2,300 and 2,180 before dave's) all went to the keepers of the two bankrupt positions (each
    # reward is 0.5% of the notional, bounded by the fund's cash), so the 85 loss is all below zero.
    cash, size, on, _, _, distressed = env0.perp.fundAccount(ETH)
    assert (cash, size, on, distressed) == (-85 * U, 0, 0, True)
    assert h.model.free_collateral(h.keeper) == 2_940_000 + 1_610_000 + 1_526_000
    _, _, err = h.deleverage_fund(ETH)
    assert err == f"FundFlat: {ETH}"  # Type 2 cannot repair it
    findings = [str(f) for f in env0.audit.findings()]
    assert findings == [f"[fund_cash] market {ETH} fund: cash -85000000 < 0"]
    # carol and grace close against each other, then everyone withdraws everything: the vault is short
    b = h.order(grace, ETH, True, WAD, 2180 * WAD, WAD, reduce_only=True)
    s = h.order(carol, ETH, False, WAD, 2180 * WAD, WAD, reduce_only=True)
    ok(h.settle([(b, s, WAD, 2180 * WAD, None, None)]))
    failed = []
    for a in (h.keeper, alice, bob, carol, dave, erin, grace):  # the keeper (paid by the fund) first
        free = h.model.free_collateral(a)
        if free:
            _, _, err = h.withdraw(a, free)
            if err:
                failed.append((a.address, free, err))
    vault = env0.token.balanceOf(env0.perp)
    assert len(failed) == 1 and failed[0][0] == grace.address
    assert failed[0][2] == f"ERC20InsufficientBalance: {env0.perp.address.lower()}, {vault}, {failed[0][1]}"
    # the shortfall is exactly the fund's negative cash (-85 + 1.526 of fees from the closing trade)
    assert failed[0][1] - vault == -env0.perp.fundAccount(ETH)[0] == 83_474_000


@pytest.mark.xfail(strict=True, raises=PropertyViolated,
                   reason="contract: a Type 1 remainder that flattens the fund leaves its cash negative for good")
def test_property_fund_cash_is_never_negative_after_type2(env0):
    h = negative_cash_scenario(env0)
    h.deleverage_fund(env0.ETH)
    cash = env0.perp.fundAccount(env0.ETH)[0]
    if cash < 0:
        raise PropertyViolated(f"fund cash {cash} < 0 and Type 2 cannot bring it back")


def price_zero_type2_scenario(env0):
    """Continues the first scenario: the flat fund with negative cash inherits a small short (a Type 1 remainder),
    then Type 2 closes it against bob's profitable 1x long."""
    h = negative_cash_scenario(env0)
    ETH = env0.ETH
    alice, bob, carol, frank, grace = (env0.signers[i] for i in (1, 2, 3, 6, 7))
    b = h.order(grace, ETH, True, WAD, 2180 * WAD, WAD, reduce_only=True)
    s = h.order(carol, ETH, False, WAD, 2180 * WAD, WAD, reduce_only=True)
    ok(h.settle([(b, s, WAD, 2180 * WAD, None, None)]))
    ok(h.deposit(frank, 5000 * U))
    q = WAD // 100

    def trade(buyer, seller, price, lev_b, lev_s):
        b = h.order(buyer, ETH, True, q, price * WAD, lev_b * WAD)
        s = h.order(seller, ETH, False, q, price * WAD, lev_s * WAD)
        ok(h.settle([(b, s, q, price * WAD, None, None)]))

    trade(alice, frank, 2180, 5, 20)  # frank short 0.01 @ 2,180 (margin 1.09)
    h.set_price(ETH, 2200 * 10**8)
    trade(bob, alice, 2300, 1, 5)  # alice closes; bob long 0.01 @ 2,300 at 1x (margin 23)
    h.set_price(ETH, 2250 * 10**8)
    # refused (Drawdown); frank still has equity (0.39, 0.1125 to his keeper), so Type 1 runs at mark, but bob is
    # underwater: the fund takes short 0.01 at mark 2,250 and frank's remaining 0.2775
    ok(h.liquidate(ETH, frank))
    ok(h.add_margin(bob, ETH, 10 * U))
    h.set_price(ETH, 2400 * 10**8)  # bob is in profit: eligible
    return h, bob


def test_type2_of_a_fund_with_negative_cash_trades_at_mark(env0):
    """Once the fund's cash is negative no price can keep it >= 0, so Type 2 trades at mark: bob is closed at
    2,400 (24 units for 0.01) instead of the zero a bankruptcy-price cap would give, and the fund's deficit grows by
    the loss it realizes on its short."""
    h, bob = price_zero_type2_scenario(env0)
    ETH = env0.ETH
    cash, size, on = (int(x) for x in env0.perp.fundAccount(ETH)[:3])
    assert (cash, size, on) == (-83_442_640 + 277_500, -WAD // 100, -22_500_000)  # cash - openNotional < 0
    assert tuple(int(x) for x in env0.perp.getPosition(ETH, bob)[:3]) == (WAD // 100, 23 * U, 33 * U)  # 24 at mark
    free = env0.free(bob)
    tx, _, err = h.deleverage_fund(ETH)
    assert err is None
    fill = dict(tx.events["AdlFill"][0])
    assert (fill["account"], fill["sizeDelta"], fill["price"], fill["notional"]) == (
        bob.address, -WAD // 100, 2400 * WAD, 24 * U
    )
    assert env0.free(bob) - free == 34 * U  # margin 33 + (24 - 23) realized
    # the fund buys back its short 0.01 @ 2,250 for 24: realizes -1.5
    assert tuple(int(x) for x in env0.perp.fundAccount(ETH))[:3] == (-83_165_140 - 1_500_000, 0, 0)


def test_property_type2_never_trades_at_price_zero(env0):
    h, _ = price_zero_type2_scenario(env0)
    tx, _, err = h.deleverage_fund(env0.ETH)
    assert err is None
    assert all(f["price"] > 0 for f in tx.events["AdlFill"])
