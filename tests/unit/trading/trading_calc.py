"""Hand-calculation and state helpers for the trading tests (tests/unit/trading).

Every expected number in this folder is computed in the test from the formulas of docs/TESTING.md with the
integer helpers below (never read back from the contract). The market parameters these tests assume are
pinned by the `assumed_params` fixture (conftest.py), so that a change of the reference deployment fails
loudly instead of silently.
"""
from contextlib import contextmanager
from decimal import Decimal

from brownie import web3
from brownie.exceptions import VirtualMachineError

from perp.orders import order_digest
from perp.units import WAD, ceil_div

FUNDING = 10_000  # human collateral units deposited for alice, bob, carol, dave and erin in every module

# Reference parameters of ETH-PERP (perp/params.py) that the hand calculations rely on.
MAKER_BPS = 2
TAKER_BPS = 5
BAND_BPS = 500
IMR = WAD // 20  # 5%
MAX_LEVERAGE = 20 * WAD
BTC_MAX_LEVERAGE = 25 * WAD
MAX_ORACLE_AGE = 3_600
ORACLE_DECIMALS = 8
UINT256_MAX = 2**256 - 1


def w(x) -> int:
    """Human number (int or str) to WAD, exactly."""
    v = Decimal(str(x)) * WAD
    assert v == v.to_integral_value(), x
    return int(v)


def X(n) -> int:
    """Leverage as WAD: X(5) == 5x."""
    return w(n)


class Calc:
    """The accounting formulas of docs/TESTING.md for one collateral scale (integer math only)."""

    def __init__(self, env):
        self.env = env
        self.scale = env.scale

    def u(self, x) -> int:
        """Human collateral amount to token units."""
        return self.env.units(x)

    def notional(self, q: int, p: int) -> int:
        """n = floor(q * p / 1e18 / scale): what the seller of a fill receives."""
        return q * p // (WAD * self.scale)

    def notional_up(self, q: int, p: int) -> int:
        """ceil(q * p / 1e18 / scale): what the buyer of a fill pays."""
        return ceil_div(q * p, WAD * self.scale)

    @staticmethod
    def margin(n: int, leverage: int) -> int:
        """Margin posted for an opening notional: ceil(n * 1e18 / leverage)."""
        return ceil_div(n * WAD, leverage)

    @staticmethod
    def fee(n: int, bps: int) -> int:
        """ceil(n * bps / 10000)."""
        return ceil_div(n * bps, 10_000)

    @staticmethod
    def released_cost(open_notional: int, closed: int, abs_size: int) -> int:
        """r = open_notional * c / |size| rounded toward +infinity (signed)."""
        return ceil_div(open_notional * closed, abs_size)

    def im(self, q: int, mark: int) -> int:
        """Initial margin: ceil(ceil(|s| * P) * imr)."""
        return ceil_div(self.notional_up(q, mark) * IMR, WAD)


def pos(env, market_id, account) -> tuple:
    """(size, openNotional, margin) as stored."""
    p = env.perp.getPosition(market_id, account)
    return (p[0], p[1], p[2])


def fund_cash(env, market_id) -> int:
    """Fund cash straight from storage (works while the oracle is unusable, unlike the lens)."""
    return env.perp.fundAccount(market_id)[0]


def order_hash(env, order) -> bytes:
    """The order's EIP-712 digest computed in Python (independent of the contract)."""
    return order_digest(order, env.chain_id, env.perp.address)


def raw_match(maker, maker_sig, taker, taker_sig, fill_size, fill_price) -> tuple:
    """A Match tuple without the client's checks (to send values the client refuses, e.g. a zero fill)."""
    zero = "0x0000000000000000000000000000000000000000"  # no ADL queue hints
    return (maker.as_tuple(), maker_sig, taker.as_tuple(), taker_sig, fill_size, fill_price, zero, zero)


def snapshot(env, accounts, hashes=()) -> dict:
    """Everything a failed settle must leave untouched: positions in both markets, free collateral, filled
    amounts, fund cash and the vault's token balance."""
    return {
        "positions": {(m, str(a)): pos(env, m, a) for m in (env.ETH, env.BTC) for a in accounts},
        "free": {str(a): env.free(a) for a in accounts},
        "filled": {bytes(h): env.perp.filledAmount(h) for h in hashes},
        "fund_cash": (fund_cash(env, env.ETH), fund_cash(env, env.BTC)),
        "vault": env.token.balanceOf(env.perp),
        "epochs": {str(a): env.perp.orderEpoch(a) for a in accounts},
    }


@contextmanager
def unchanged(env, accounts, hashes=()):
    """Asserts that the block changes none of `snapshot`."""
    before = snapshot(env, accounts, hashes)
    yield
    after = snapshot(env, accounts, hashes)
    assert after == before


def revert_with_block_time(fn):
    """Runs a transaction that must revert; returns (revert string, timestamp of the block that mined it)."""
    try:
        fn()
    except VirtualMachineError as e:
        receipt = web3.eth.get_transaction_receipt(e.txid)
        return e.revert_msg, web3.eth.get_block(receipt["blockNumber"])["timestamp"]
    raise AssertionError("transaction did not revert")


def latest_timestamp() -> int:
    return web3.eth.get_block("latest")["timestamp"]


def set_next_block_timestamp(ts: int) -> None:
    web3.provider.make_request("evm_setNextBlockTimestamp", [ts])


def oracle_answer(price) -> int:
    return int(Decimal(str(price)) * 10**ORACLE_DECIMALS)
