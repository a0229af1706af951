"""Findings: behaviours where the contracts (and the model, which agrees with them step by step) break, or once
broke, a property the README states. Each scenario runs through the differential harness, so every step is also
checked against the model.

The loss waterfall (fixed). README: a Type 1 remainder that nets against an opposite fund position at a realized
loss beyond its cash used to leave the fund's cash negative for good (``deleverageFund`` reverts ``FundFlat`` once
the fund is flat) and the vault short of the accounts' claims: the last account to withdraw could not. The pure
model found this path in about 2% of random 60-step scenarios. Now the waterfall's last layer spreads that loss over
the open positions of the side that gained (``LossSocialized``), so the fund's cash is back at zero and everyone
can withdraw. The one case left: no open interest to spread it over (the fund was the last counterparty): the loss
stays in the fund's cash (``LossUnsocialized``), pinned below with exact numbers.

Type 2 at price zero (fixed). ``_fundTradePrice`` capped a short fund's buy-back price at its bankruptcy price
``(cash - openNotional) / size``, floored at 0: when the fund's cash deficit exceeded what it received for its
short, Type 2 made the eligible longs sell to the fund for nothing. Now a fund whose cash is already negative trades
at mark (no price can keep its cash >= 0 then); the tests below pin that, after the unsocialized case.
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


def _trade(h, buyer, seller, price, lev_b, lev_s, size=WAD):
    b = h.order(buyer, h.env.ETH, True, size, price * WAD, lev_b * WAD)
    s = h.order(seller, h.env.ETH, False, size, price * WAD, lev_s * WAD)
    ok(h.settle([(b, s, size, price * WAD, None, None)]))


def waterfall_scenario(env0):
    """ETH-PERP, empty fund. Returns the harness after the second liquidation (every step checked)."""
    h = Harness(env0)
    alice, bob, carol, dave, erin, grace = (env0.signers[i] for i in (1, 2, 3, 4, 5, 7))
    ETH = env0.ETH
    for a in (alice, bob, carol, dave, erin, grace):
        ok(h.deposit(a, 5000 * U))
    _trade(h, alice, bob, 2000, 5, 20)  # bob short 1 @ 2,000, margin 100: bankrupt at 2,100
    h.set_price(ETH, 2100 * 10**8)
    _trade(h, carol, alice, 2200, 2, 5)  # alice closes; carol long 1 @ 2,200 (underwater at 2,110: not eligible)
    h.set_price(ETH, 2110 * 10**8)
    ok(h.liquidate(ETH, bob))  # fund refuses (NegativeEquity), no eligible long: the fund takes short 1 @ 2,100
    assert h.model.fund(ETH)[1:3] == (-WAD, -2100 * U)
    h.set_price(ETH, 2300 * 10**8)
    _trade(h, dave, erin, 2300, 20, 5)  # dave long 1 @ 2,300, margin 115: bankrupt at 2,185
    h.set_price(ETH, 2200 * 10**8)
    _trade(h, erin, grace, 2180, 5, 5)  # erin closes; grace short 1 @ 2,180 (u = 0 at 2,180: not eligible)
    h.set_price(ETH, 2180 * 10**8)
    # refused (Drawdown), no eligible short: the fund buys 1 back at 2,185, 85 beyond its cash: spread over the shorts
    h.last_tx, _, err = h.liquidate(ETH, dave)
    assert err is None
    return h


def test_the_waterfall_spreads_a_fund_loss_below_zero_over_the_opposite_side(env0):
    """Dave's remainder nets against the fund's short at 2,185: 85 below its (empty) cash. The shorts (grace, 1 ETH:
    the open interest) gained from his bankruptcy side and carry it: their index rises by 85 per unit, the fund's
    cash is back at zero, grace's lens view counts the 85 at once, and she pays it when she closes. Everyone then
    withdraws everything; the vault keeps exactly the fund's cash (the closing trade's fees)."""
    h = waterfall_scenario(env0)
    ETH = env0.ETH
    alice, bob, carol, dave, erin, grace = (env0.signers[i] for i in (1, 2, 3, 4, 5, 7))
    ev = h.last_tx.events
    assert [dict(e) for e in ev["LossSocialized"]] == [{"marketId": ETH, "account": dave.address, "longsPay": False,
                                                        "amount": 85 * U, "indexDelta": 85 * WAD, "index": 85 * WAD}]
    assert "LossUnsocialized" not in ev
    assert tuple(env0.perp.fundAccount(ETH))[:3] == (0, 0, 0)
    # (long index, short index, open interest: carol's 1 ETH, index balance: -85 owed by the shorts, fund snapshot,
    # the reference price 2^70 = 1,180.59 ETH-USD: the mark at listing, 2,000, rounded down to a power of two)
    assert tuple(env0.perp.marketIndex(ETH)) == (0, 85 * WAD, WAD, -85 * U, 0, 2**70)
    g = env0.lens.positionInfo(ETH, grace)
    assert (g["openNotional"], g["unrealizedPnl"], g["equity"]) == (-2095 * U, -85 * U, 351 * U)
    assert tuple(env0.perp.getPosition(ETH, grace))[:3] == (-WAD, -2180 * U, 436 * U)  # settled on her next touch
    b = h.order(grace, ETH, True, WAD, 2180 * WAD, WAD, reduce_only=True)
    s = h.order(carol, ETH, False, WAD, 2180 * WAD, WAD, reduce_only=True)
    tx, _, err = h.settle([(b, s, WAD, 2180 * WAD, None, None)])
    assert err is None
    assert [dict(e) for e in tx.events["IndexSettled"]] == [{"marketId": ETH, "account": grace.address,
                                                             "amount": 85 * U}]
    # grace: 5,000 deposited, taker fee 1.09 on opening, maker fee 0.436 on closing, and the 85 she paid
    assert env0.free(grace) == 5000 * U - 1_090_000 - 436_000 - 85 * U
    for a in (h.keeper, alice, bob, carol, dave, erin, grace):
        free = h.model.free_collateral(a)
        if free:
            ok(h.withdraw(a, free))
    assert env0.token.balanceOf(env0.perp) == env0.perp.fundAccount(ETH)[0] == 1_526_000
    assert tuple(env0.perp.marketIndex(ETH))[2:4] == (0, 0)


def test_property_fund_cash_is_never_negative_after_type2(env0):
    h = waterfall_scenario(env0)
    h.deleverage_fund(env0.ETH)
    cash = env0.perp.fundAccount(env0.ETH)[0]
    if cash < 0:
        raise PropertyViolated(f"fund cash {cash} < 0 and Type 2 cannot bring it back")


def flat_deficit_scenario(env0):
    """ETH-PERP, empty fund, and the fund ends up the last counterparty: dave's bankrupt long nets against the
    fund's short with nobody else left in the market. Returns the harness after dave's liquidation."""
    h = Harness(env0)
    alice, bob, carol, dave = (env0.signers[i] for i in (1, 2, 3, 4))
    ETH = env0.ETH
    for a in (alice, bob, carol, dave):
        ok(h.deposit(a, 5000 * U))
    _trade(h, alice, bob, 2000, 5, 20)  # bob short 1 @ 2,000, margin 100: bankrupt at 2,100
    h.set_price(ETH, 2100 * 10**8)
    _trade(h, carol, alice, 2200, 2, 5)  # alice closes; carol long 1 @ 2,200
    h.set_price(ETH, 2110 * 10**8)
    ok(h.liquidate(ETH, bob))  # the fund takes short 1 @ 2,100
    h.set_price(ETH, 2300 * 10**8)
    _trade(h, dave, carol, 2300, 20, 2)  # carol closes; dave long 1 @ 2,300, margin 115: bankrupt at 2,185
    h.set_price(ETH, 2180 * 10**8)
    h.last_tx, _, err = h.liquidate(ETH, dave)  # nobody but the fund is short: it buys 1 back at 2,185
    assert err is None
    return h


def test_a_loss_with_no_open_interest_left_stays_in_the_fund_cash(env0):
    """The one case the waterfall cannot close: the fund was dave's last counterparty, so with the market flat
    nobody is left to spread the 85 over. It stays in the fund's cash (announced), the audit reports it, Type 2
    cannot repair it, and once everyone withdraws the vault is short by exactly that: the last to withdraw cannot."""
    h = flat_deficit_scenario(env0)
    ETH = env0.ETH
    alice, bob, carol, dave = (env0.signers[i] for i in (1, 2, 3, 4))
    ev = h.last_tx.events
    assert [dict(e) for e in ev["LossUnsocialized"]] == [{"marketId": ETH, "account": dave.address,
                                                          "amount": 85 * U}]
    assert "LossSocialized" not in ev
    cash, size, on, _, _, distressed = env0.perp.fundAccount(ETH)
    assert (cash, size, on, distressed) == (-85 * U, 0, 0, True)
    assert tuple(env0.perp.marketIndex(ETH))[:4] == (0, 0, 0, 0)
    _, _, err = h.deleverage_fund(ETH)
    assert err == f"FundFlat: {ETH}"
    assert [str(f) for f in env0.audit.findings()] == [f"[fund_cash] market {ETH} fund: cash -85000000 < 0"]
    failed = []
    for a in (h.keeper, alice, bob, carol, dave):  # the keeper (paid by the fund) first
        free = h.model.free_collateral(a)
        if free:
            _, _, err = h.withdraw(a, free)
            if err:
                failed.append((a.address, free, err))
    vault = env0.token.balanceOf(env0.perp)
    assert len(failed) == 1 and failed[0][0] == dave.address
    assert failed[0][2] == f"ERC20InsufficientBalance: {env0.perp.address.lower()}, {vault}, {failed[0][1]}"
    assert failed[0][1] - vault == 85 * U


def price_zero_type2_scenario(env0):
    """Continues the flat deficit: the flat fund with negative cash inherits a small short (a Type 1 remainder),
    then Type 2 closes it against bob's profitable 1x long."""
    h = flat_deficit_scenario(env0)
    ETH = env0.ETH
    alice, bob, frank = (env0.signers[i] for i in (1, 2, 6))
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
    # the deficit, plus the fees of the two trades (15,260 and 16,100) and frank's remaining equity (277,500)
    assert (cash, size, on) == (-85 * U + 15_260 + 16_100 + 277_500, -WAD // 100, -22_500_000)
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
    assert tuple(int(x) for x in env0.perp.fundAccount(ETH))[:3] == (-84_691_140 - 1_500_000, 0, 0)


def test_property_type2_never_trades_at_price_zero(env0):
    h, _ = price_zero_type2_scenario(env0)
    tx, _, err = h.deleverage_fund(env0.ETH)
    assert err is None
    assert all(f["price"] > 0 for f in tx.events["AdlFill"])
