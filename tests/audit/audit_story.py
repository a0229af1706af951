"""A realistic history for the replay auditor: deposits (own, for others, for many), trades (single, a batch
with a partially filled maker order, a flip, reduce-only partial closes), order cancellations (one order,
all orders), margin moves, owner changes (parameters, oracle, pause), a price crash with liquidations the fund
accepts, a liquidation the fund refuses (Type 1 ADL), Type 2 ADL of the distressed fund, a top-up, a poke and
withdrawals. The ETH-PERP part follows tests/integration/test_story_crash_cascade.py (fund seeded with 200)."""
from perp.units import WAD


def w(x) -> int:
    from decimal import Decimal

    return int(Decimal(str(x)) * WAD)


def run_story(env, signers) -> dict:
    deployer, alice, bob, carol, dave, erin, frank, grace, outsider, keeper = signers
    U = 10**env.decimals
    txs = {}

    # ---------------------------------------------------------------- deposits
    for a in (alice, bob, carol, dave):
        env.fund(a, 1000 * U)
    env.fund(frank, 10_000 * U)
    env.fund(grace, 2000 * U)
    env.fund(erin, 4321 * U)  # a bystander: free collateral only
    env.token.faucet(outsider, 5000 * U, {"from": outsider})
    env.token.approve(env.perp, 5000 * U, {"from": outsider})
    env.perp.depositFor(dave, 100 * U, {"from": outsider})
    env.perp.depositForMany([carol, erin], [10 * U, 20 * U], {"from": outsider})

    # ---------------------------------------------------------------- ETH-PERP book at 2,000
    env.trade(alice, frank, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.trade(bob, grace, env.ETH, w(2), w(2000), buyer_leverage=w(20), seller_leverage=w(10))
    # frank's one sell order of 2, filled by carol and dave in one batch
    frank_sell = env.order(frank, env.ETH, False, w(2), w(2000), leverage=w(2), is_maker=True)
    frank_sig = env.sign(frank_sell)
    carol_buy = env.order(carol, env.ETH, True, w(1), w(2000), leverage=w(10))
    dave_buy = env.order(dave, env.ETH, True, w(1), w(2000), leverage=w(5))
    env.perp.settleBatch(
        [env.match(frank_sell, carol_buy, w(1), maker_sig=frank_sig), env.match(frank_sell, dave_buy, w(1), maker_sig=frank_sig)],
        {"from": keeper},
    )

    # ---------------------------------------------------------------- cancellations and margin moves
    stale = env.order(grace, env.ETH, True, w("0.1"), w(1990))
    env.perp.cancelOrder(stale.as_tuple(), {"from": grace})
    env.perp.cancelAllOrders({"from": frank})
    env.perp.addMargin(env.ETH, 10 * U, {"from": dave})
    env.perp.removeMargin(env.ETH, 100 * U, {"from": frank})

    # ---------------------------------------------------------------- BTC-PERP: partial fill, cancel, flips, reduce-only
    dave_btc = env.order(dave, env.BTC, True, w("0.02"), w(60000), is_maker=True)
    grace_btc = env.order(grace, env.BTC, False, w("0.01"), w(60000))
    env.perp.settle(env.match(dave_btc, grace_btc, w("0.01")), {"from": keeper})
    env.perp.cancelOrder(dave_btc.as_tuple(), {"from": dave})  # the unfilled half
    env.trade(grace, dave, env.BTC, w("0.02"), w(60000))  # both flip: dave short 0.01, grace long 0.01
    close_buy = env.order(dave, env.BTC, True, w("0.005"), w(60000), reduce_only=True)
    close_sell = env.order(grace, env.BTC, False, w("0.005"), w(60000), reduce_only=True)
    env.perp.settle(env.match(close_buy, close_sell), {"from": keeper})

    # ---------------------------------------------------------------- owner changes on BTC-PERP
    owner = {"from": deployer}
    _, oracle, params, _ = env.perp.marketInfo(env.BTC)
    params = list(params)
    params[3] = params[3] + 1  # maker fee + 1 bp
    env.perp.setMarketParams(env.BTC, params, owner)
    env.perp.setOracle(env.BTC, oracle, owner)
    env.perp.setPaused(env.BTC, True, owner)
    env.perp.setPaused(env.BTC, False, owner)

    # ---------------------------------------------------------------- 1,950: two liquidations the fund accepts
    env.set_price(env.ETH, 1950)
    txs["accepted"] = env.perp.liquidateBatch(env.ETH, [alice, bob, carol, dave, erin], {"from": keeper})
    assert len(txs["accepted"].events["FundAccepted"]) == 2

    # ---------------------------------------------------------------- 1,850: the fund in drawdown refuses carol: Type 1
    env.set_price(env.ETH, 1850)
    txs["type1"] = env.perp.liquidate(env.ETH, carol, {"from": keeper})
    assert "FundRefused" in txs["type1"].events
    assert {e["adlType"] for e in txs["type1"].events["AdlFill"]} == {1}

    # ---------------------------------------------------------------- Type 2: the fund closes its longs at mark
    txs["type2"] = env.perp.deleverageFund(env.ETH, {"from": outsider})
    assert {e["adlType"] for e in txs["type2"].events["AdlFill"]} == {2}
    assert env.perp.fundAccount(env.ETH)[1] == 0

    # ---------------------------------------------------------------- BTC-PERP: a refusal by risk limit, Type 1 with a
    # remainder to the fund: of the two shorts, dave (entered at 60,000) is eligible and deployer (entered at
    # 57,000) is not (u < 0 at 57,500), so Type 1 fills dave's 0.005 and the fund takes the other 0.005.
    params[12] = 1  # maxFundNotional: 1 unit
    env.perp.setMarketParams(env.BTC, params, owner)
    env.fund(outsider, 1000 * U)
    env.fund(deployer, 1000 * U)
    env.trade(bob, outsider, env.BTC, w("0.01"), w(60000), buyer_leverage=w(20), seller_leverage=w(2))
    env.set_price(env.BTC, 57000)
    env.trade(outsider, deployer, env.BTC, w("0.01"), w(57000), buyer_leverage=w(2), seller_leverage=w(2))
    env.set_price(env.BTC, 57500)
    txs["remainder"] = env.perp.liquidate(env.BTC, bob, {"from": keeper})
    assert txs["remainder"].events["FundRefused"]["reason"] == 2  # RiskLimit
    assert txs["remainder"].events["AdlFill"]["account"] == dave
    assert txs["remainder"].events["AdlRemainderToFund"]["size"] == w("0.005")

    # ---------------------------------------------------------------- recovery: top-up, poke, a new trade, withdrawals
    env.set_price(env.ETH, 1900)
    env.token.approve(env.perp, 1000 * U, {"from": outsider})
    env.perp.topUpFund(env.ETH, 150 * U, {"from": outsider})
    env.perp.topUpFund(env.BTC, 1 * U, {"from": outsider})
    env.perp.pokeFund(env.ETH, {"from": outsider})
    env.trade(frank, dave, env.ETH, w("0.5"), w(1900), buyer_leverage=w(2))  # frank's epoch moved with ADL
    env.perp.withdraw(env.free(erin), {"from": erin})
    env.perp.withdraw(env.free(alice) // 2, {"from": alice})
    return txs
