"""Every hard bound of MarketParamsLib.validate, through createMarket and setMarketParams:
InvalidParameter(name, value) one unit outside each bound, and acceptance exactly on each inclusive bound.

validate is pure and does not depend on the collateral, so this module runs on the 6-decimal deployment only;
the reverting cases are checked with eth_call (nothing is mined, nothing can change)."""
import brownie
import pytest
from brownie import MockAggregator

from perp.params import default_params
from support import err

WAD = 10**18
DAY = 86_400


@pytest.fixture(scope="module")
def decimals():
    """Overrides the suite's decimals parametrization for this module (see the docstring)."""
    return 6


def eth(env):
    return default_params("ETH-PERP", env.decimals)


# (field of perp.params.MarketParams, bad value, Solidity name in the error). Defaults: imr 5%, mcr 4%, mmr 3%,
# max 20x, drawdown trigger 30%, stop 20%.
INVALID = [
    ("imr", 10**15 - 1, "imr"),  # below 0.1%
    ("imr", WAD + 1, "imr"),  # above 100%
    ("mmr", 0, "mmr"),
    ("mmr", 4 * WAD // 100, "mmr"),  # mmr == mcr
    ("mmr", 4 * WAD // 100 + 1, "mmr"),  # mmr > mcr
    ("mcr", 5 * WAD // 100, "mcr"),  # mcr == imr
    ("mcr", 5 * WAD // 100 + 1, "mcr"),  # mcr > imr
    ("max_leverage", WAD - 1, "maxLeverage"),  # below 1x
    ("max_leverage", 20 * WAD + 1, "maxLeverage"),  # above 1 / imr = 20x
    ("max_leverage", 0, "maxLeverage"),
    ("maker_fee_bps", 101, "makerFeeBps"),
    ("taker_fee_bps", 101, "takerFeeBps"),
    ("oracle_band_bps", 0, "oracleBandBps"),
    ("oracle_band_bps", 2_001, "oracleBandBps"),
    ("liquidation_reward_bps", 101, "liquidationRewardBps"),
    ("max_oracle_age", 0, "maxOracleAge"),
    ("max_oracle_age", DAY + 1, "maxOracleAge"),
    ("max_fund_notional", 0, "maxFundNotional"),
    ("drawdown_trigger", 0, "drawdownTrigger"),
    ("drawdown_trigger", WAD + 1, "drawdownTrigger"),
    ("drawdown_stop", 3 * WAD // 10, "drawdownStop"),  # stop == trigger
    ("drawdown_stop", 3 * WAD // 10 + 1, "drawdownStop"),  # stop > trigger
    ("hwm_window", 59, "hwmWindow"),
    ("hwm_window", 30 * DAY + 1, "hwmWindow"),
    ("notional_stop", 0, "notionalStop"),
    ("notional_stop", WAD + 1, "notionalStop"),
    ("min_position_notional", 0, "minPositionNotional"),  # dust positions allowed
    ("min_position_notional", 10**9 * 10**6 + 1, "minPositionNotional"),  # above a billion tokens (6 decimals)
    ("min_fill_size", 10**27 + 1, "minFillSize"),  # above a billion units of the asset
]
IDS = [f"{f}={v}" for f, v, _ in INVALID]


@pytest.mark.parametrize("field,value,name", INVALID, ids=IDS)
def test_create_market_with_out_of_bounds_parameter_reverts_invalid_parameter(env, deployer, field, value, name):
    bad = eth(env).with_(**{field: value})
    with brownie.reverts(err("InvalidParameter", name, value)):
        env.perp.createMarket.call("SOL-PERP", env.oracle(env.ETH), bad.as_tuple(), {"from": deployer})


@pytest.mark.parametrize("field,value,name", INVALID, ids=IDS)
def test_set_market_params_with_out_of_bounds_parameter_reverts_invalid_parameter(env, deployer, field, value, name):
    bad = eth(env).with_(**{field: value})
    with brownie.reverts(err("InvalidParameter", name, value)):
        env.perp.setMarketParams.call(env.ETH, bad.as_tuple(), {"from": deployer})


def test_rejected_set_market_params_transaction_leaves_params_unchanged(checked, deployer):
    env = checked
    with brownie.reverts(err("InvalidParameter", "imr", 0)):
        env.perp.setMarketParams(env.ETH, eth(env).with_(imr=0).as_tuple(), {"from": deployer})
    assert tuple(env.perp.marketInfo(env.ETH)[2]) == eth(env).as_tuple()


def test_rejected_create_market_transaction_lists_nothing(checked, deployer):
    env = checked
    with brownie.reverts(err("InvalidParameter", "hwmWindow", 0)):
        env.perp.createMarket("SOL-PERP", env.oracle(env.ETH), eth(env).with_(hwm_window=0).as_tuple(),
                              {"from": deployer})
    assert env.perp.marketCount() == 2


def test_first_failing_bound_is_reported(env, deployer):
    """Several bad fields: the first in validate's order (imr before fees) is the one reported."""
    bad = eth(env).with_(taker_fee_bps=500, imr=WAD + 5)
    with brownie.reverts(err("InvalidParameter", "imr", WAD + 5)):
        env.perp.setMarketParams.call(env.ETH, bad.as_tuple(), {"from": deployer})


def lower_bounds(env):
    """Every field on its lowest accepted value (mmr < mcr < imr = 0.1%, max leverage = 1 / imr = 1000x)."""
    return eth(env).with_(
        imr=10**15, mcr=10**15 - 1, mmr=1, max_leverage=1_000 * WAD, maker_fee_bps=0, taker_fee_bps=0,
        oracle_band_bps=1, liquidation_reward_bps=0, max_oracle_age=1, max_fund_notional=1, drawdown_trigger=1,
        drawdown_stop=0, hwm_window=60, notional_stop=1, max_liquidation_reward=0, min_position_notional=1,
        min_fill_size=0,
    )


def upper_bounds(env):
    """Every field on its highest accepted value (imr 100% so max leverage 1x; uint128 fields at their max)."""
    return eth(env).with_(
        imr=WAD, mcr=WAD - 1, mmr=WAD - 2, max_leverage=WAD, maker_fee_bps=100, taker_fee_bps=100,
        oracle_band_bps=2_000, liquidation_reward_bps=100, max_oracle_age=DAY, max_fund_notional=2**128 - 1,
        drawdown_trigger=WAD, drawdown_stop=WAD - 1, hwm_window=30 * DAY, notional_stop=WAD,
        max_liquidation_reward=2**128 - 1, min_position_notional=10**9 * 10**6, min_fill_size=10**27,
    )


@pytest.mark.parametrize("bounds", [lower_bounds, upper_bounds], ids=["lower", "upper"])
def test_set_market_params_exactly_on_every_inclusive_bound_is_accepted(checked, deployer, bounds):
    env = checked
    params = bounds(env)
    assert params.problems(env.decimals) == []  # the off-chain mirror agrees

    tx = env.perp.setMarketParams(env.ETH, params.as_tuple(), {"from": deployer})

    assert tuple(tx.events["MarketParamsUpdated"]["params"]) == params.as_tuple()
    assert tuple(env.perp.marketInfo(env.ETH)[2]) == params.as_tuple()


@pytest.mark.parametrize("bounds", [lower_bounds, upper_bounds], ids=["lower", "upper"])
def test_create_market_exactly_on_every_inclusive_bound_is_accepted(checked, deployer, bounds):
    env = checked
    oracle = MockAggregator.deploy(8, "SOL / USD (mock)", 150 * 10**8, deployer, {"from": deployer})
    params = bounds(env)

    env.perp.createMarket("SOL-PERP", oracle, params.as_tuple(), {"from": deployer})

    assert tuple(env.perp.marketInfo(3)[2]) == params.as_tuple()


@pytest.mark.parametrize("imr,max_leverage", [(WAD // 3, 3 * WAD), (3 * WAD // 100, 33 * WAD)],
                         ids=["imr_one_third_3x", "imr_3pct_33x"])
def test_max_leverage_bound_uses_the_exact_product_with_imr(env, deployer, imr, max_leverage):
    """maxLeverage * imr <= 1: with imr = 1/3 (rounded down), 3x fits; with imr 3%, 33x (0.99) fits and
    34x (1.02) does not."""
    params = eth(env).with_(imr=imr, mcr=imr - 1, mmr=imr - 2, max_leverage=max_leverage)
    env.perp.setMarketParams.call(env.ETH, params.as_tuple(), {"from": deployer})
    too_high = params.with_(max_leverage=max_leverage + WAD)
    with brownie.reverts(err("InvalidParameter", "maxLeverage", max_leverage + WAD)):
        env.perp.setMarketParams.call(env.ETH, too_high.as_tuple(), {"from": deployer})
