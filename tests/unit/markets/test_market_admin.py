"""Markets and their owner: createMarket, setMarketParams, setOracle, setPaused (events and stored state), the
owner-only guard, the two-step ownership transfer, unknown market ids, oracle decimals, and the pause."""
import brownie
import pytest
from brownie import MockAggregator, web3

from perp.audit import Audit
from perp.params import default_params
from support import err

WAD = 10**18
ZERO = "0x0000000000000000000000000000000000000000"


def ev(tx, name, i=0):
    return dict(tx.events[name][i])


def new_oracle(deployer, decimals=8, answer=150 * 10**8):
    return MockAggregator.deploy(decimals, "SOL / USD (mock)", answer, deployer, {"from": deployer})


def sol_params(env):
    return default_params("SOL-PERP", env.decimals).with_(
        imr=WAD // 10, mcr=8 * WAD // 100, mmr=6 * WAD // 100, max_leverage=10 * WAD, maker_fee_bps=1, taker_fee_bps=3
    )


# ------------------------------------------------------------------ createMarket


def test_create_market_by_owner_emits_market_created_with_its_arguments(checked, deployer):
    env = checked
    oracle, params = new_oracle(deployer), sol_params(env)

    tx = env.perp.createMarket("SOL-PERP", oracle, params.as_tuple(), {"from": deployer})

    e = ev(tx, "MarketCreated")
    assert e["marketId"] == 3  # ETH-PERP = 1, BTC-PERP = 2 in the devnet deployment
    assert e["name"] == "SOL-PERP"
    assert e["oracle"] == oracle.address
    assert tuple(e["params"]) == params.as_tuple()


def test_create_market_returns_the_new_id(checked, deployer):
    env = checked
    oracle, params = new_oracle(deployer), sol_params(env).as_tuple()
    # (through the Perpetual address the call is forwarded by delegatecall; Brownie reads a return value from a
    # call, not from a forwarded transaction's trace)
    assert env.perp.createMarket.call("SOL-PERP", oracle, params, {"from": deployer}) == 3
    tx = env.perp.createMarket("SOL-PERP", oracle, params, {"from": deployer})
    assert tx.events["MarketCreated"]["marketId"] == 3


def test_create_market_increments_market_count(checked, deployer):
    env = checked
    env.perp.createMarket("SOL-PERP", new_oracle(deployer), sol_params(env).as_tuple(), {"from": deployer})
    env.perp.createMarket("DOGE-PERP", new_oracle(deployer), sol_params(env).as_tuple(), {"from": deployer})
    assert env.perp.marketCount() == 4


def test_create_market_stores_name_oracle_params_unpaused(checked, deployer):
    env = checked
    oracle, params = new_oracle(deployer), sol_params(env)
    env.perp.createMarket("SOL-PERP", oracle, params.as_tuple(), {"from": deployer})

    name, stored_oracle, stored_params, paused = env.perp.marketInfo(3)

    assert (name, stored_oracle, tuple(stored_params), paused) == ("SOL-PERP", oracle.address, params.as_tuple(), False)


def test_new_market_starts_with_an_empty_fund_and_no_positions(checked, deployer):
    env = checked
    env.perp.createMarket("SOL-PERP", new_oracle(deployer), sol_params(env).as_tuple(), {"from": deployer})
    cash, size, open_notional, *_ = env.perp.fundAccount(3)
    assert (cash, size, open_notional) == (0, 0, 0)
    for is_long in (True, False):
        bitmap, overflow = env.perp.queueSide(3, is_long)
        accounts, positions, after = env.perp.sidePositions(3, is_long, ZERO, 2**256 - 1)
        assert (bitmap, list(overflow), list(accounts), list(positions), after) == (0, [], [], [], ZERO)


@pytest.mark.parametrize(
    "oracle_decimals,answer,mark",
    [(8, 150_12345678, 150_123456780000000000), (0, 150, 150 * WAD), (18, 150_123456789012345678, 150_123456789012345678)],
    ids=["8", "0", "18"],
)
def test_new_market_marks_at_the_answer_scaled_by_oracle_decimals(checked, deployer, oracle_decimals, answer, mark):
    env = checked
    oracle = new_oracle(deployer, oracle_decimals, answer)
    env.perp.createMarket("SOL-PERP", oracle, sol_params(env).as_tuple(), {"from": deployer})
    assert env.perp.markPrice(3) == mark


def test_new_market_accepts_trades(env, calc, deployer, alice, bob):
    """Audited by hand at the end: `env.audit` (and so `checked`) only knows the markets that existed when the
    deployment was made, so it would miss this market's positions."""
    env.perp.createMarket("SOL-PERP", new_oracle(deployer), sol_params(env).as_tuple(), {"from": deployer})
    env.fund(alice, env.units(1_000))
    env.fund(bob, env.units(1_000))

    env.trade(alice, bob, 3, 2 * WAD, 150 * WAD)

    n = calc.notional_down(2 * WAD, 150 * WAD, env.scale)  # 300
    assert n == env.units(300)
    assert tuple(env.perp.getPosition(3, alice))[:3] == (2 * WAD, n, calc.margin_for(n, 5 * WAD))
    assert env.free(alice) == env.units(1_000) - env.units(60) - calc.fee(n, 1)
    assert env.free(bob) == env.units(1_000) - env.units(60) - calc.fee(n, 3)
    audit = Audit(web3, env.perp.address, env.lens.address, {str(s) for s in env.signers})
    assert audit.market_ids == [1, 2, 3]
    audit.assert_ok()


def test_create_market_with_19_decimal_oracle_reverts_invalid_parameter(checked, deployer):
    env = checked
    with brownie.reverts(err("InvalidParameter", "oracleDecimals", 19)):
        env.perp.createMarket("SOL-PERP", new_oracle(deployer, 19, 150 * 10**19), sol_params(env).as_tuple(),
                              {"from": deployer})
    assert env.perp.marketCount() == 2


def test_create_market_with_oracle_without_code_reverts_invalid_parameter(checked, deployer, outsider):
    env = checked
    with brownie.reverts(err("InvalidParameter", "oracle", int(outsider.address, 16))):
        env.perp.createMarket("SOL-PERP", outsider, sol_params(env).as_tuple(), {"from": deployer})
    assert env.perp.marketCount() == 2


# ------------------------------------------------------------------ setMarketParams / setOracle / setPaused


def test_set_market_params_by_owner_stores_them_and_emits(checked, deployer):
    env = checked
    new = default_params("ETH-PERP", env.decimals).with_(maker_fee_bps=7, taker_fee_bps=9, max_oracle_age=600)

    tx = env.perp.setMarketParams(env.ETH, new.as_tuple(), {"from": deployer})

    e = ev(tx, "MarketParamsUpdated")
    assert e["marketId"] == env.ETH
    assert tuple(e["params"]) == new.as_tuple()
    name, oracle, params, paused = env.perp.marketInfo(env.ETH)
    assert (name, oracle, tuple(params), paused) == ("ETH-PERP", env.oracle(env.ETH).address, new.as_tuple(), False)


def test_set_market_params_new_fees_apply_to_the_next_trade(checked, calc, deployer, alice, bob):
    env = checked
    new = default_params("ETH-PERP", env.decimals).with_(maker_fee_bps=7, taker_fee_bps=9)
    env.perp.setMarketParams(env.ETH, new.as_tuple(), {"from": deployer})
    env.fund(alice, env.units(1_000))
    env.fund(bob, env.units(1_000))

    tx = env.trade(alice, bob, env.ETH, WAD // 3, calc.px(2000))

    n = calc.notional_down(WAD // 3, calc.px(2000), env.scale)  # 666.666666...: bob, the seller, receives it
    up = calc.notional_up(WAD // 3, calc.px(2000), env.scale)  # alice, the buyer, pays it rounded up
    assert up == n + (1 if env.decimals == 6 else 0)  # exact with 18 decimals
    t = ev(tx, "Trade")
    assert (t["buyerNotional"], t["sellerNotional"], t["buyerFee"], t["sellerFee"]) == (
        up, n, calc.fee(up, 7), calc.fee(n, 9))
    assert env.free(alice) == env.units(1_000) - calc.margin_for(up, 5 * WAD) - calc.fee(up, 7)


def test_set_oracle_by_owner_switches_the_mark_and_emits(checked, deployer):
    env = checked
    oracle = new_oracle(deployer, 18, 2100_123456789012345678)

    tx = env.perp.setOracle(env.ETH, oracle, {"from": deployer})

    assert ev(tx, "OracleUpdated") == {"marketId": env.ETH, "oracle": oracle.address}
    assert env.perp.marketInfo(env.ETH)[1] == oracle.address
    assert env.perp.markPrice(env.ETH) == 2100_123456789012345678


def test_set_oracle_with_19_decimals_reverts_and_keeps_the_old_oracle(checked, deployer):
    env = checked
    with brownie.reverts(err("InvalidParameter", "oracleDecimals", 19)):
        env.perp.setOracle(env.ETH, new_oracle(deployer, 19, 2000 * 10**19), {"from": deployer})
    assert env.perp.marketInfo(env.ETH)[1] == env.oracle(env.ETH).address
    assert env.perp.markPrice(env.ETH) == 2000 * WAD


def test_set_oracle_without_code_reverts_invalid_parameter(checked, deployer, outsider):
    env = checked
    with brownie.reverts(err("InvalidParameter", "oracle", int(outsider.address, 16))):
        env.perp.setOracle(env.ETH, outsider, {"from": deployer})


def test_set_paused_by_owner_flags_the_market_and_emits(checked, deployer):
    env = checked
    tx = env.perp.setPaused(env.ETH, True, {"from": deployer})
    assert ev(tx, "MarketPauseSet") == {"marketId": env.ETH, "paused": True}
    assert env.perp.marketInfo(env.ETH)[3] is True


def test_unpause_by_owner_clears_the_flag_and_emits(checked, deployer):
    env = checked
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    tx = env.perp.setPaused(env.ETH, False, {"from": deployer})
    assert ev(tx, "MarketPauseSet") == {"marketId": env.ETH, "paused": False}
    assert env.perp.marketInfo(env.ETH)[3] is False


# ------------------------------------------------------------------ owner only

ADMIN_CALLS = {
    "createMarket": lambda env, who: env.perp.createMarket(
        "SOL-PERP", env.oracle(env.ETH), sol_params(env).as_tuple(), {"from": who}),
    "setMarketParams": lambda env, who: env.perp.setMarketParams(
        env.ETH, default_params("ETH-PERP", env.decimals).as_tuple(), {"from": who}),
    "setOracle": lambda env, who: env.perp.setOracle(env.ETH, env.oracle(env.BTC), {"from": who}),
    "setPaused": lambda env, who: env.perp.setPaused(env.ETH, True, {"from": who}),
    "transferOwnership": lambda env, who: env.perp.transferOwnership(who, {"from": who}),
    "renounceOwnership": lambda env, who: env.perp.renounceOwnership({"from": who}),
}


@pytest.mark.parametrize("call", list(ADMIN_CALLS))
def test_admin_call_from_non_owner_reverts_ownable_unauthorized_account(checked, outsider, call):
    env = checked
    with brownie.reverts(err("OwnableUnauthorizedAccount", outsider)):
        ADMIN_CALLS[call](env, outsider)
    assert env.perp.marketCount() == 2
    assert env.perp.marketInfo(env.ETH)[1] == env.oracle(env.ETH).address
    assert env.perp.marketInfo(env.ETH)[3] is False
    assert env.perp.owner() == env.dep.deployer
    assert env.perp.pendingOwner() == ZERO


# ------------------------------------------------------------------ Ownable2Step


def test_transfer_ownership_only_nominates_a_pending_owner(checked, deployer, alice):
    env = checked
    tx = env.perp.transferOwnership(alice, {"from": deployer})
    assert ev(tx, "OwnershipTransferStarted") == {"previousOwner": deployer, "newOwner": alice}
    assert env.perp.owner() == deployer
    assert env.perp.pendingOwner() == alice


def test_pending_owner_cannot_administer_before_accepting(checked, deployer, alice):
    env = checked
    env.perp.transferOwnership(alice, {"from": deployer})
    with brownie.reverts(err("OwnableUnauthorizedAccount", alice)):
        env.perp.setPaused(env.ETH, True, {"from": alice})


def test_only_the_pending_owner_can_accept_ownership(checked, deployer, alice, bob):
    env = checked
    env.perp.transferOwnership(alice, {"from": deployer})
    with brownie.reverts(err("OwnableUnauthorizedAccount", bob)):
        env.perp.acceptOwnership({"from": bob})
    assert env.perp.owner() == deployer
    assert env.perp.pendingOwner() == alice


def test_accepting_ownership_hands_admin_over(checked, deployer, alice):
    env = checked
    env.perp.transferOwnership(alice, {"from": deployer})

    tx = env.perp.acceptOwnership({"from": alice})

    assert ev(tx, "OwnershipTransferred") == {"previousOwner": deployer, "newOwner": alice}
    assert env.perp.owner() == alice
    assert env.perp.pendingOwner() == ZERO
    env.perp.setPaused(env.ETH, True, {"from": alice})
    assert env.perp.marketInfo(env.ETH)[3] is True


def test_previous_owner_loses_admin_after_acceptance(checked, deployer, alice):
    env = checked
    env.perp.transferOwnership(alice, {"from": deployer})
    env.perp.acceptOwnership({"from": alice})
    with brownie.reverts(err("OwnableUnauthorizedAccount", deployer)):
        env.perp.setPaused(env.ETH, True, {"from": deployer})


def test_a_second_nomination_replaces_the_first(checked, deployer, alice, bob):
    env = checked
    env.perp.transferOwnership(alice, {"from": deployer})
    env.perp.transferOwnership(bob, {"from": deployer})
    with brownie.reverts(err("OwnableUnauthorizedAccount", alice)):
        env.perp.acceptOwnership({"from": alice})
    env.perp.acceptOwnership({"from": bob})
    assert env.perp.owner() == bob


# ------------------------------------------------------------------ unknown market

# The owner calls are simulated with eth_call (nothing is mined); one real transaction is sent below.
UNKNOWN_MARKET_CALLS = {
    "setMarketParams": lambda env, m: env.perp.setMarketParams.call(
        m, default_params("ETH-PERP", env.decimals).as_tuple(), {"from": env.dep.deployer}),
    "setOracle": lambda env, m: env.perp.setOracle.call(m, env.oracle(env.ETH), {"from": env.dep.deployer}),
    "setPaused": lambda env, m: env.perp.setPaused.call(m, True, {"from": env.dep.deployer}),
    "marketInfo": lambda env, m: env.perp.marketInfo(m),
    "markPrice": lambda env, m: env.perp.markPrice(m),
}


@pytest.mark.parametrize("market_id", [0, 3], ids=["id0", "next_id"])
@pytest.mark.parametrize("call", list(UNKNOWN_MARKET_CALLS))
def test_unknown_market_id_reverts_unknown_market(env, call, market_id):
    with brownie.reverts(err("UnknownMarket", market_id)):
        UNKNOWN_MARKET_CALLS[call](env, market_id)


def test_set_paused_transaction_on_unknown_market_reverts_and_lists_nothing(checked, deployer):
    env = checked
    with brownie.reverts(err("UnknownMarket", 3)):
        env.perp.setPaused(3, True, {"from": deployer})
    assert env.perp.marketCount() == 2


def test_unknown_market_wins_over_invalid_params(env, deployer):
    bad = default_params("ETH-PERP", env.decimals).with_(imr=0)
    with brownie.reverts(err("UnknownMarket", 3)):
        env.perp.setMarketParams.call(3, bad.as_tuple(), {"from": deployer})


def test_settle_on_unknown_market_reverts_unknown_market(checked, calc, alice, bob):
    env = checked
    env.fund(alice, env.units(1_000))
    env.fund(bob, env.units(1_000))
    with brownie.reverts(err("UnknownMarket", 3)):
        env.trade(alice, bob, 3, WAD, calc.px(2000))


# ------------------------------------------------------------------ pause


@pytest.fixture
def funded(checked, alice, bob):
    checked.fund(alice, checked.units(10_000))
    checked.fund(bob, checked.units(10_000))


def test_pause_blocks_settle_with_market_paused(checked, funded, calc, deployer, alice, bob):
    env = checked
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    with brownie.reverts(err("MarketPaused", env.ETH)):
        env.trade(alice, bob, env.ETH, WAD, calc.px(2000))
    assert env.perp.getPosition(env.ETH, alice)[0] == 0
    assert env.free(alice) == env.units(10_000)


def test_pause_blocks_settle_batch_with_market_paused(checked, funded, calc, deployer, alice, bob):
    env = checked
    maker = env.order(alice, env.ETH, True, WAD, calc.px(2000))
    taker = env.order(bob, env.ETH, False, WAD, calc.px(2000))
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    with brownie.reverts(err("MarketPaused", env.ETH)):
        env.perp.settleBatch([env.match(maker, taker)], {"from": env.keeper})


def test_pause_blocks_remove_margin_but_not_add_margin(checked, funded, calc, deployer, alice, bob):
    env = checked
    env.trade(alice, bob, env.ETH, WAD, calc.px(2000))
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    with brownie.reverts(err("MarketPaused", env.ETH)):
        env.perp.removeMargin(env.ETH, env.units(1), {"from": alice})
    env.perp.addMargin(env.ETH, env.units(1), {"from": alice})
    assert env.perp.getPosition(env.ETH, alice)[2] == env.units(400) + env.units(1)


def test_unpause_restores_settle(checked, funded, calc, deployer, alice, bob):
    env = checked
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    env.perp.setPaused(env.ETH, False, {"from": deployer})

    env.trade(alice, bob, env.ETH, WAD, calc.px(2000))

    n = env.units(2000)
    assert tuple(env.perp.getPosition(env.ETH, alice))[:3] == (WAD, n, env.units(400))
    assert tuple(env.perp.getPosition(env.ETH, bob))[:3] == (-WAD, -n, env.units(400))


def test_unpause_restores_add_and_remove_margin(checked, funded, calc, deployer, alice, bob):
    env = checked
    env.trade(alice, bob, env.ETH, WAD, calc.px(2000))
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    env.perp.setPaused(env.ETH, False, {"from": deployer})

    env.perp.addMargin(env.ETH, env.units(10), {"from": alice})
    env.perp.removeMargin(env.ETH, env.units(25), {"from": alice})

    assert env.perp.getPosition(env.ETH, alice)[2] == env.units(400) + env.units(10) - env.units(25)


def test_pause_is_per_market(checked, funded, calc, deployer, alice, bob):
    env = checked
    env.perp.setPaused(env.ETH, True, {"from": deployer})

    env.trade(alice, bob, env.BTC, WAD // 10, calc.px(60_000))

    assert tuple(env.perp.getPosition(env.BTC, alice))[:2] == (WAD // 10, env.units(6_000))


def test_pause_does_not_block_deposit_and_withdraw(checked, funded, deployer, alice):
    env = checked
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    env.perp.setPaused(env.BTC, True, {"from": deployer})

    env.perp.withdraw(env.units(4_000), {"from": alice})
    env.token.approve(env.perp, env.units(1_000), {"from": alice})
    env.perp.deposit(env.units(1_000), {"from": alice})

    assert env.free(alice) == env.units(7_000)
    assert env.token.balanceOf(alice) == env.units(3_000)


def test_pause_keeps_liquidation_working(checked, funded, calc, deployer, alice, bob, keeper):
    env = checked
    env.trade(alice, bob, env.ETH, WAD, calc.px(2000), buyer_leverage=20 * WAD)  # alice margin 100
    env.set_price(env.ETH, 1950)  # equity 50 < MM 58.5
    env.perp.setPaused(env.ETH, True, {"from": deployer})

    env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert env.perp.getPosition(env.ETH, alice)[0] == 0
