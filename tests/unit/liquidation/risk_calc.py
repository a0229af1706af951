"""Hand-calculation helpers for the risk-engine tests (tests/unit/liquidation, tests/unit/adl, tests/integration).

Every expected number in these folders is computed in the test itself, with plain integer math following the
accounting model of docs/TESTING.md; the helpers below only name the rounding of each formula, they never read
anything back from the contracts. Units: sizes and prices are WAD, money is in collateral units,
`scale = 10 ** (18 - decimals)`.

Reference ETH-PERP parameters these tests assume (perp/params.py): imr 5%, mmr 3%, maker 2 bps, taker 5 bps,
keeper reward 50 bps capped at 100 units, maxFundNotional 5,000,000 units, drawdown trigger 30% / stop 20%,
notionalStop 80%, oracle 8 decimals, max oracle age 3,600 s.
"""
from decimal import Decimal

from brownie import chain

WAD = 10**18
BPS = 10_000

MMR = 3 * WAD // 100
MAKER_BPS = 2
TAKER_BPS = 5
REWARD_BPS = 50
MAX_REWARD_TOKENS = 100
DRAWDOWN_TRIGGER = 3 * WAD // 10
DRAWDOWN_STOP = 2 * WAD // 10
NOTIONAL_STOP = 8 * WAD // 10
MAX_ORACLE_AGE = 3_600
ORACLE_DECIMALS = 8

# RefusalReason enum (interfaces/IPerpetualTypes.sol)
REFUSE_NEGATIVE_EQUITY = 1
REFUSE_RISK_LIMIT = 2
REFUSE_DRAWDOWN = 3
ADL_TYPE_BANKRUPT = 1
ADL_TYPE_FUND = 2


def w(x) -> int:
    """Human number (int or str) to WAD, exactly."""
    v = Decimal(str(x)) * WAD
    assert v == v.to_integral_value(), x
    return int(v)


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def notional_down(q: int, p: int, scale: int) -> int:
    """floor(q * p / 1e18 / scale): a fill's notional, what a seller is paid."""
    return q * p // (WAD * scale)


def notional_up(q: int, p: int, scale: int) -> int:
    """ceil(q * p / 1e18 / scale): notional for requirements, what a buyer pays in ADL."""
    return ceil_div(q * p, WAD * scale)


def margin_for(n: int, leverage: int) -> int:
    """Margin posted for an opening notional `n` at `leverage` (WAD): ceil(n * 1e18 / leverage)."""
    return ceil_div(n * WAD, leverage)


def fee(n: int, bps: int) -> int:
    return ceil_div(n * bps, BPS)


def upnl(size: int, open_notional: int, p: int, scale: int) -> int:
    """Unrealized PnL at mark `p`: long floor(|s| p) - openNotional, short -ceil(|s| p) - openNotional."""
    if size >= 0:
        return notional_down(size, p, scale) - open_notional
    return -notional_up(-size, p, scale) - open_notional


def mm(size: int, p: int, scale: int) -> int:
    return ceil_div(notional_up(abs(size), p, scale) * MMR, WAD)


def price_of(amount: int, abs_size: int, scale: int) -> int:
    """Price (WAD) of `amount` collateral units per `abs_size`, rounded down."""
    return amount * WAD * scale // abs_size


def score(u: int, margin: int) -> int:
    """ADL score u / (margin + u) in WAD, rounded down (u > 0)."""
    assert u > 0
    return u * WAD // (margin + u)


def drawdown(hwm: int, equity: int) -> int:
    if hwm <= 0 or equity >= hwm:
        return 0
    return (hwm - equity) * WAD // hwm


def lights(rank: int, count: int) -> int:
    return 5 - ((rank - 1) * 5) // count


def keeper_reward(notional: int, equity: int, margin: int, max_reward: int) -> int:
    """Paid out of the position: min(notional (rounded down) * 50 bps (down), maxLiquidationReward, equity,
    margin); 0 when equity <= 0 (then the fund pays: ``keeper_reward_from_fund``)."""
    if equity <= 0:
        return 0
    return min(notional * REWARD_BPS // BPS, max_reward, equity, margin)


def keeper_reward_from_fund(notional: int, fund_cash: int, max_reward: int) -> int:
    """A position with no equity: min(notional (rounded down) * 50 bps (down), maxLiquidationReward) out of the
    fund's cash, never below zero."""
    return min(notional * REWARD_BPS // BPS, max_reward, max(fund_cash, 0))


# ------------------------------------------------------------------------------------------- chain helpers


def set_price_units(env, market_id, price_wad: int) -> None:
    """Sets the mock feed to `price_wad` (must be a multiple of 1e10, the 8-decimal oracle step)."""
    assert price_wad % 10 ** (18 - ORACLE_DECIMALS) == 0, price_wad
    env.oracle(market_id).setPrice(price_wad // 10 ** (18 - ORACLE_DECIMALS), {"from": env.dep.deployer})


def make_stale(env, market_id) -> int:
    """Re-posts the current answer stamped MAX_ORACLE_AGE + 1 seconds in the past; returns that timestamp."""
    oracle = env.oracle(market_id)
    answer = oracle.latestRoundData()[1]
    updated = chain.time() - MAX_ORACLE_AGE - 100
    oracle.setPriceAt(answer, updated, {"from": env.dep.deployer})
    return updated


def position(env, market_id, account) -> tuple:
    """Raw stored position: (size, openNotional, margin)."""
    p = env.perp.getPosition(market_id, account)
    return (p[0], p[1], p[2])


def fund_raw(env, market_id) -> tuple:
    """Raw fund account: (cash, size, openNotional)."""
    f = env.perp.fundAccount(market_id)
    return (f[0], f[1], f[2])


def events_named(tx, name) -> list:
    """Every event `name` of a transaction, in log order (empty list when none)."""
    if name not in tx.events:
        return []
    return list(tx.events[name])


def event_names(tx) -> list:
    return [e.name for e in tx.events]


def fees_above_base_fee() -> None:
    """The private dev networks (dev1..dev4) start Anvil without `--block-base-fee-per-gas 0`, while Brownie's
    development defaults send legacy transactions at gas price 0 ("max fee per gas less than block base fee").
    When the node has a base fee and nothing else is configured, send EIP-1559 transactions with a 1-wei tip and a
    generous cap instead (gas is paid in the dev accounts' ETH; no collateral token amount is affected)."""
    from brownie import web3
    from brownie._config import CONFIG

    settings = CONFIG.active_network["settings"]
    base_fee = web3.eth.get_block("latest").get("baseFeePerGas") or 0
    if base_fee and not settings.get("gas_price") and not settings.get("max_fee"):
        settings["max_fee"] = 1000 * 10**9
        settings["priority_fee"] = 1  # wei (0 would read as "not set")


def new_bystander(env, amount: int):
    """A fresh account (with a private key) holding only `amount` of free collateral, deposited for it by the
    deployer; registered with the audit so that conservation counts its free collateral."""
    from brownie import accounts

    acct = accounts.add()
    deployer = env.dep.deployer
    env.token.faucet(deployer, amount, {"from": deployer})
    env.token.approve(env.perp, amount, {"from": deployer})
    env.perp.depositFor(acct, amount, {"from": deployer})
    env.audit.accounts.add(str(acct))
    return acct


def assert_stale_epoch(env, account, old_order, counterparty):
    """An order `account` signed before being deleveraged now fails with OrderEpochStale (old epoch, new epoch)."""
    import brownie
    from support import err

    other = env.order(counterparty, old_order.market_id, not old_order.is_buy, old_order.size, old_order.limit_price)
    maker, taker = env.as_maker(old_order), other  # the old order rests: it is settled as the maker
    h = env.perp.hashOrder(maker.as_tuple())
    with brownie.reverts(err("OrderEpochStale", h, maker.epoch, env.perp.orderEpoch(account))):
        env.perp.settle(env.match(maker, taker), {"from": env.keeper})


def queue(env, market_id, account) -> tuple:
    """PerpLens.adlQueue as plain ints: (score, rank, eligible, lights)."""
    return tuple(int(x) for x in env.lens.adlQueue(market_id, account))


def new_trader(env, amount: int):
    """A fresh account that can sign orders (added to `env.signers`), holding `amount` of free collateral
    deposited for it by the deployer; its transactions are submitted by others, so it needs no ETH."""
    acct = new_bystander(env, amount)
    env.signers.append(acct)
    return acct


def assert_reference_params(env) -> None:
    """Fails loudly if the deployment's ETH-PERP parameters are not the ones the hand calculations assume."""
    p = env.dep.markets["ETH-PERP"]["params"]
    one = 10**env.decimals
    assumed = dict(
        imr=WAD // 20, mmr=MMR, maker_fee_bps=MAKER_BPS, taker_fee_bps=TAKER_BPS, liquidation_reward_bps=REWARD_BPS,
        max_liquidation_reward=MAX_REWARD_TOKENS * one, max_fund_notional=5_000_000 * one, max_leverage=20 * WAD,
        drawdown_trigger=DRAWDOWN_TRIGGER, drawdown_stop=DRAWDOWN_STOP, notional_stop=NOTIONAL_STOP,
        max_oracle_age=MAX_ORACLE_AGE, hwm_window=8 * 3600, oracle_band_bps=500,
    )
    actual = {k: getattr(p, k) for k in assumed}
    assert actual == assumed, f"risk-engine tests assume the reference ETH-PERP parameters: {actual} != {assumed}"
    assert tuple(int(x) for x in env.perp.marketInfo(env.ETH)[2]) == p.as_tuple()
