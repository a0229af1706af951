"""Executable reference model of the protocol, in plain Python (no web3, no chain).

What it is
----------
``Model`` holds the whole protocol state the contracts keep (free collateral and order epoch per account,
positions with ``openSeq`` and list index, the per-market side lists in their swap-and-pop order, the
``openSeq`` counter, filled amounts by order hash, each market's oracle answer, pause flag, parameters and
insurance fund: cash, size, open notional, high-water mark with its timestamp, drawdown latch) and applies
every user and keeper action with the same integer math and the same rounding as the Solidity code:

=========================  =================================================================================
model method               contract function
=========================  =================================================================================
``deposit``/``deposit_for``  ``deposit``/``depositFor`` (MarginModule)
``withdraw``               ``withdraw``
``add_margin``             ``addMargin`` (works on a paused market)
``remove_margin``          ``removeMargin`` (IM check, then the leverage check, after the write)
``settle``/``settle_batch``  ``settle``/``settleBatch`` (TradingModule: ``_useOrder``, ``_fillTrader``, fees)
``cancel_order``/``cancel_all``  ``cancelOrder``/``cancelAllOrders``
``liquidate``/``liquidate_batch``  LiquidationModule (reward caps, fund refusal, Type 1 ADL)
``deleverage_fund``        ``deleverageFund`` (Type 2: reasons, targets, bankruptcy-price cap, all-or-nothing)
``top_up_fund``/``poke_fund``  InsuranceFundModule (high-water mark window, drawdown latch)
``set_price``/``set_paused``   mock oracle ``setPrice``/``setPriceAt``, owner ``setPaused``
=========================  =================================================================================

Every action is atomic: a failing action raises a ``ModelError`` and leaves the state exactly as before (as a
reverted transaction does). ``ModelError`` has one subclass per custom error of ``IPerpetualErrors`` (e.g.
``InsufficientFreeCollateral``), carries the same arguments in the same order, and the checks run in the
contract's order so that the same error wins. ``str(exc)`` (or ``exc.revert_string()``) is the string Brownie
reports and ``tests/support.err(name, *args)`` builds: ``"InsufficientFreeCollateral: 0xabc..., 0, 5"``.
Failures the contracts reach only with absurd amounts are modelled where cheap: OpenZeppelin's SafeCast errors
for the int128/uint128 storage fields (``SafeCastOverflowedUintDowncast(128, value)``), a division by zero or an
underflow as ``ModelError("Panic", code)``; checked-multiplication overflows of 256-bit products are not.

Inputs the model cannot compute by itself, and how to supply them:

- order hashes (EIP-712 digests): pass ``hasher=lambda order: perp.orders.order_digest(order, chain_id,
  perp_address)`` to get the exact ``bytes32`` (errors then print exactly like the chain's); the default hasher
  returns a tuple of the order's fields, unique per order, which is enough for pure-Python runs;
- signatures: a ``Match`` names the address each signature recovers to (``maker_signer``/``taker_signer``,
  default the order's own account; ``ZERO`` for an unrecoverable signature);
- time: every time-dependent action takes ``now`` (``block.timestamp``): oracle staleness, order expiry and the
  high-water-mark window.

Accounts are normalised to lower-case hex strings (any object whose ``str()`` is an address works).
Orders are any object with the attributes of ``perp.orders.Order`` (``account, market_id, is_buy, size,
limit_price, leverage, reduce_only, nonce, epoch, expiry``).

Outputs besides the state: each action returns its result (``liquidate_batch`` the count) and leaves the
events that matter for the differential tests in ``model.events`` (reset at the start of every action):
``("AdlFill", {...})`` with account, market, type, sizeDelta, price, notional, score and rank exactly as the
``AdlFill`` event, and ``Liquidated``, ``FundAccepted``, ``FundRefused``, ``AdlRemainderToFund``,
``FundWatermarkUpdated``, ``Trade``.

The ranking: ``_ranked_candidates`` builds the contract's one-word keys
``score << 192 | min(|size|, 2^96-1) << 96 | (2^64-1 - openSeq) << 32 | listIndex`` for every position on the
scanned side with uPnL > 0 at mark, in side-list order, and the picks are the keys in descending order (what
the linear first pick plus binary heap of ``AdlRanking.next`` yields for distinct keys). openSeq is unique, so the
index bits never break a tie and the side-list order changes no rank, score or fill; it only names where each
account sits (``listIndex``, the ``sideAccounts`` view). The model still keeps the exact swap-and-pop order and
the ``openSeq`` counter, and the differential tests compare both with the chain after every action.

Speed: ``python -m perp.model`` runs random pure-model scenarios with the invariants checked after every step and
prints how many per minute (see ``random_scenario``).

Also here: ``Model.check()`` (conservation including the cost-basis term, balanced book, side lists consistent
with positions), ``Model.fund_equity``, ``Model.position_equity`` and ``Model.snapshot()`` (plain tuples, for
comparisons).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

WAD = 10**18
BPS = 10_000
ZERO = "0x0000000000000000000000000000000000000000"
UINT256_MAX = 2**256 - 1
UINT128_MAX = 2**128 - 1
UINT64_MAX = 2**64 - 1
SIZE_CAP = 2**96 - 1

# enums (interfaces/IPerpetualTypes.sol)
REFUSE_NONE, REFUSE_NEGATIVE_EQUITY, REFUSE_RISK_LIMIT, REFUSE_DISTRESSED = 0, 1, 2, 3
DISTRESS_NONE, DISTRESS_NEGATIVE_EQUITY, DISTRESS_DRAWDOWN, DISTRESS_RISK_LIMIT = 0, 1, 2, 3
ADL_TYPE_BANKRUPT, ADL_TYPE_FUND = 1, 2

ERROR_NAMES = (
    "ZeroAmount", "TokenTransferMismatch", "UnsupportedDecimals", "InsufficientFreeCollateral", "UnknownMarket",
    "MarketPaused", "InvalidParameter", "InvalidOraclePrice", "StaleOraclePrice", "NoPosition",
    "InsufficientPositionMargin", "InsufficientMargin", "LeverageTooHigh", "LeverageTooLow", "TradeLeavesBadDebt",
    "InvalidSignature", "OrderExpired", "OrderIsCancelled", "OrderEpochStale", "OrderOverfilled", "MarketMismatch",
    "SameSide", "SelfTrade", "PriceOutsideLimit", "PriceOutsideOracleBand", "ReduceOnlyViolated",
    "NotionalTooSmall", "NotOrderOwner", "NotLiquidatable", "FundNotDistressed", "FundFlat",
    "InsufficientAdlCapacity", "ValueOverflow", "Panic", "SafeCastOverflowedUintDowncast",
    "SafeCastOverflowedIntDowncast", "ERC20InsufficientBalance",
)


# ----------------------------------------------------------------------------------------------- errors


def format_error_arg(a) -> str:
    """Formats one custom-error argument as Brownie shows it in a revert string (also used by tests/support.err)."""
    if hasattr(a, "address"):
        return a.address.lower()
    if isinstance(a, str) and a.startswith("0x") and len(a) == 42:
        return a.lower()
    if isinstance(a, str) and a.startswith("0x") and len(a) == 66:
        return str(bytes.fromhex(a[2:]))
    if isinstance(a, (bytes, bytearray)):
        return str(bytes(a))
    return str(a)


class ModelError(Exception):
    """A custom error of the contracts: ``ModelError("InsufficientFreeCollateral", account, available, needed)``.

    Constructing ``ModelError(name, *args)`` returns an instance of the subclass named ``name`` (so
    ``except InsufficientFreeCollateral`` and ``except ModelError`` both work); ``.name`` and ``.args_`` hold
    the error and its arguments."""

    _classes: dict = {}

    def __new__(cls, name=None, *args):
        if cls is ModelError and name in ModelError._classes:
            cls = ModelError._classes[name]
        return super().__new__(cls)

    def __init__(self, name, *args):
        super().__init__(name, *args)
        self.name = name
        self.args_ = tuple(args)

    def revert_string(self) -> str:
        return f"{self.name}: " + ", ".join(format_error_arg(a) for a in self.args_)

    def __str__(self) -> str:
        return self.revert_string()

    def __eq__(self, other):
        return isinstance(other, ModelError) and (self.name, self.args_) == (other.name, other.args_)

    def __hash__(self):
        return hash((self.name, self.args_))


for _n in ERROR_NAMES:
    ModelError._classes[_n] = type(_n, (ModelError,), {})
    globals()[_n] = ModelError._classes[_n]


def fail(name: str, *args):
    raise ModelError(name, *args)


# ----------------------------------------------------------------------------------------------- math (PerpMath)


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def mul_div(a: int, b: int, c: int) -> int:
    return a * b // c


def mul_div_up(a: int, b: int, c: int) -> int:
    return -((-(a * b)) // c)


def notional_down(abs_size: int, price: int, scale: int) -> int:
    return abs_size * price // (WAD * scale)


def notional_up(abs_size: int, price: int, scale: int) -> int:
    return -((-(abs_size * price)) // (WAD * scale))


def position_value(size: int, price: int, scale: int) -> int:
    if size >= 0:
        return notional_down(size, price, scale)
    return -notional_up(-size, price, scale)


def unrealized_pnl(size: int, open_notional: int, price: int, scale: int) -> int:
    return position_value(size, price, scale) - open_notional


def bankruptcy_notional(size: int, open_notional: int, margin: int) -> int:
    n = open_notional - margin if size > 0 else margin - open_notional
    return n if n > 0 else 0


def drawdown(hwm: int, equity: int) -> int:
    if hwm <= 0 or equity >= hwm:
        return 0
    return (hwm - equity) * WAD // hwm


def bps_up(x: int, bps: int) -> int:
    return -((-(x * bps)) // BPS)


def bps_down(x: int, bps: int) -> int:
    return x * bps // BPS


def wad_mul_up(x: int, ratio: int) -> int:
    return -((-(x * ratio)) // WAD)


def wad_div_up(x: int, y: int) -> int:
    if y == 0:
        fail("Panic", 0x12)
    return -((-(x * WAD)) // y)


def mul_div_signed_ceil(a: int, b: int, c: int) -> int:
    if a >= 0:
        return -((-(a * b)) // c)
    return -((-a) * b // c)


def price_of(amount: int, abs_size: int, scale: int) -> int:
    return amount * WAD * scale // abs_size


def score(u: int, margin: int) -> int:
    """AdlRanking.score: u / (margin + u) in WAD, rounded down (u > 0)."""
    return u * WAD // (margin + u)


def ranking_key(score_: int, abs_size: int, open_seq: int, index: int) -> int:
    size = abs_size if abs_size < SIZE_CAP else SIZE_CAP
    return (score_ << 192) | (size << 96) | ((UINT64_MAX - open_seq) << 32) | index


def key_score(k: int) -> int:
    return k >> 192


def key_index(k: int) -> int:
    return k & (2**32 - 1)


def reduction(size: int, open_notional: int, abs_delta: int, notional: int):
    """PerpBase._reduction: (closed, closeNotional, released, pnl)."""
    abs_size = abs(size)
    closed = abs_delta if abs_delta < abs_size else abs_size
    close_notional = notional if closed == abs_delta else notional * closed // abs_delta
    released = mul_div_signed_ceil(open_notional, closed, abs_size)
    pnl = close_notional - released if size > 0 else -close_notional - released
    return closed, close_notional, released, pnl


def _int128(x: int) -> int:
    """OpenZeppelin SafeCast.toInt128."""
    if not -(2**127) <= x < 2**127:
        fail("SafeCastOverflowedIntDowncast", 128, x)
    return x


def _uint128(x: int) -> int:
    """OpenZeppelin SafeCast.toUint128 (a negative input is an underflow panic in the contract)."""
    if x < 0:
        fail("Panic", 0x11)
    if x > UINT128_MAX:
        fail("SafeCastOverflowedUintDowncast", 128, x)
    return x


def addr(a) -> str:
    if hasattr(a, "address"):
        a = a.address
    return str(a).lower()


# ----------------------------------------------------------------------------------------------- state


class Position:
    __slots__ = ("size", "open_notional", "margin", "open_seq", "list_index")

    def __init__(self, size=0, open_notional=0, margin=0, open_seq=0, list_index=0):
        self.size = size
        self.open_notional = open_notional
        self.margin = margin
        self.open_seq = open_seq
        self.list_index = list_index

    def copy(self) -> "Position":
        return Position(self.size, self.open_notional, self.margin, self.open_seq, self.list_index)

    def as_tuple(self) -> tuple:
        return (self.size, self.open_notional, self.margin, self.open_seq, self.list_index)

    def __repr__(self) -> str:
        return f"Position{self.as_tuple()}"


class Market:
    __slots__ = ("market_id", "params", "oracle_decimals", "answer", "updated_at", "paused", "fund_cash",
                 "fund_size", "fund_open_notional", "fund_hwm", "fund_hwm_ts", "fund_distressed")

    def __init__(self, market_id, params, oracle_decimals, answer, updated_at):
        self.market_id = market_id
        self.params = params
        self.oracle_decimals = oracle_decimals
        self.answer = answer
        self.updated_at = updated_at
        self.paused = False
        self.fund_cash = 0
        self.fund_size = 0
        self.fund_open_notional = 0
        self.fund_hwm = 0
        self.fund_hwm_ts = 0
        self.fund_distressed = False

    def copy(self) -> "Market":
        m = Market.__new__(Market)
        for s in Market.__slots__:
            setattr(m, s, getattr(self, s))
        return m

    def fund_tuple(self) -> tuple:
        """(cash, size, openNotional, highWaterMark, highWaterMarkTimestamp, distressed) as ``fundAccount``."""
        return (self.fund_cash, self.fund_size, self.fund_open_notional, self.fund_hwm, self.fund_hwm_ts,
                self.fund_distressed)


@dataclass
class Match:
    """One matched pair: both orders, the fill, and the addresses their signatures recover to."""

    maker: object
    taker: object
    fill_size: int
    fill_price: int
    maker_signer: str | None = None  # None: the order's own account (a valid signature)
    taker_signer: str | None = None


def default_hasher(order) -> tuple:
    return ("order", addr(order.account), order.market_id, bool(order.is_buy), order.size, order.limit_price,
            order.leverage, bool(order.reduce_only), order.nonce, order.epoch, order.expiry)


class Model:
    """The protocol state and its actions. ``decimals``: collateral decimals (0..18)."""

    def __init__(self, decimals: int = 6, hasher=None, address: str = "0x" + "00" * 19 + "fe"):
        if decimals > 18:
            fail("UnsupportedDecimals", decimals)
        self.decimals = decimals
        self.scale = 10 ** (18 - decimals)
        self.hasher = hasher or default_hasher
        self.free: dict = {}
        self.epoch: dict = {}
        self.positions: dict = {}  # (market_id, account) -> Position (open positions only)
        self.sides: dict = {}  # (market_id, is_long) -> [account] in storage order
        self.filled: dict = {}  # order hash -> filled amount (UINT256_MAX once cancelled)
        self.markets: dict = {}
        self.market_count = 0
        self.open_seq = 0
        self.vault = 0  # the collateral token balance of the contract
        self.address = addr(address)  # the contract's address (named by the token's transfer error)
        self.events: list = []
        self._filled_journal = None

    # ------------------------------------------------------------------------------------------ transactions

    def _begin(self):
        snap = (dict(self.free), dict(self.epoch), {k: p.copy() for k, p in self.positions.items()},
                {k: list(v) for k, v in self.sides.items()}, {k: m.copy() for k, m in self.markets.items()},
                self.open_seq, self.vault, self.market_count)
        self._filled_journal = []
        self.events = []
        return snap

    def _rollback(self, snap):
        (self.free, self.epoch, self.positions, self.sides, self.markets, self.open_seq, self.vault,
         self.market_count) = snap
        for h, old in reversed(self._filled_journal):
            if old is None:
                self.filled.pop(h, None)
            else:
                self.filled[h] = old
        self._filled_journal = None
        self.events = []  # a reverted transaction emits nothing

    def _tx(self, fn, *args):
        snap = self._begin()
        try:
            return fn(*args)
        except ModelError:
            self._rollback(snap)
            raise
        finally:
            self._filled_journal = None

    def _set_filled(self, h, value):
        if self._filled_journal is not None:
            self._filled_journal.append((h, self.filled.get(h)))
        self.filled[h] = value

    # ------------------------------------------------------------------------------------------ admin / oracle

    def create_market(self, params, answer: int, updated_at: int, oracle_decimals: int = 8) -> int:
        """Lists a market (MarketModule.createMarket; the bounds are perp.params' problems())."""
        problems = params.problems() if hasattr(params, "problems") else []
        if problems:
            raise ValueError("; ".join(problems))
        self.market_count += 1
        mid = self.market_count
        self.markets[mid] = Market(mid, params, oracle_decimals, answer, updated_at)
        self.sides[(mid, True)] = []
        self.sides[(mid, False)] = []
        return mid

    def set_price(self, market_id: int, answer: int, updated_at: int) -> None:
        """The mock feed posts `answer` (oracle decimals) stamped `updated_at`."""
        m = self.markets[market_id]
        m.answer = answer
        m.updated_at = updated_at

    def set_paused(self, market_id: int, paused: bool) -> None:
        self._market(market_id).paused = paused

    def set_params(self, market_id: int, params) -> None:
        self._market(market_id).params = params

    # ------------------------------------------------------------------------------------------ reads

    def _market(self, mid) -> Market:
        m = self.markets.get(mid)
        if m is None:
            fail("UnknownMarket", mid)
        return m

    def _active_market(self, mid) -> Market:
        m = self._market(mid)
        if m.paused:
            fail("MarketPaused", mid)
        return m

    def mark_price(self, mid: int, now: int) -> int:
        m = self._market(mid)
        return self._mark(mid, m, now)

    def _mark(self, mid, m: Market, now: int) -> int:
        if m.answer <= 0:
            fail("InvalidOraclePrice", mid, m.answer)
        max_age = m.params.max_oracle_age
        if m.updated_at + max_age < now:
            fail("StaleOraclePrice", mid, m.updated_at, max_age)
        price = m.answer * 10 ** (18 - m.oracle_decimals)
        if price > UINT128_MAX:
            fail("InvalidOraclePrice", mid, m.answer)
        return price

    def free_collateral(self, account) -> int:
        return self.free.get(addr(account), 0)

    def order_epoch(self, account) -> int:
        return self.epoch.get(addr(account), 0)

    def position(self, mid, account) -> Position:
        return self.positions.get((mid, addr(account))) or Position()

    def filled_amount(self, order_hash) -> int:
        return self.filled.get(order_hash, 0)

    def fund(self, mid) -> tuple:
        return self.markets[mid].fund_tuple()

    def side_accounts(self, mid, is_long) -> list:
        return list(self.sides[(mid, is_long)])

    def position_equity(self, mid, account, price) -> int:
        p = self.position(mid, account)
        return p.margin + unrealized_pnl(p.size, p.open_notional, price, self.scale)

    def fund_equity(self, mid, price) -> int:
        m = self.markets[mid]
        return m.fund_cash + unrealized_pnl(m.fund_size, m.fund_open_notional, price, self.scale)

    def snapshot(self) -> dict:
        """Plain values for comparisons: free, epochs, positions (with openSeq, listIndex), sides, funds."""
        return {
            "free": {a: v for a, v in self.free.items()},
            "epoch": dict(self.epoch),
            "positions": {k: p.as_tuple() for k, p in self.positions.items()},
            "sides": {k: list(v) for k, v in self.sides.items()},
            "funds": {mid: m.fund_tuple() for mid, m in self.markets.items()},
            "vault": self.vault,
        }

    def check(self) -> None:
        """Conservation (with the cost-basis term), balanced book and side lists; raises AssertionError."""
        total = sum(self.free.values()) + sum(p.margin for p in self.positions.values())
        total += sum(m.fund_cash for m in self.markets.values())
        total -= sum(p.open_notional for p in self.positions.values())
        total -= sum(m.fund_open_notional for m in self.markets.values())
        assert total == self.vault, f"conservation: vault {self.vault} != {total}"
        for mid, m in self.markets.items():
            net = sum(p.size for (k, _), p in self.positions.items() if k == mid) + m.fund_size
            assert net == 0, f"balanced book: market {mid} net size {net}"
            for is_long in (True, False):
                side = self.sides[(mid, is_long)]
                assert len(set(side)) == len(side)
                held = sorted(a for (k, a), p in self.positions.items() if k == mid and (p.size > 0) == is_long)
                assert sorted(side) == held, f"side list {mid} {is_long}: {side} vs {held}"
                for i, a in enumerate(side):
                    assert self.positions[(mid, a)].list_index == i
        for p in self.positions.values():
            assert p.size != 0 and p.margin >= 0

    # ------------------------------------------------------------------------------------------ free collateral

    def _credit(self, account, amount) -> int:
        free = self.free.get(account, 0) + amount
        self.free[account] = _uint128(free)
        return free

    def _debit(self, account, amount) -> int:
        free = self.free.get(account, 0)
        if free < amount:
            fail("InsufficientFreeCollateral", account, free, amount)
        self.free[account] = free - amount
        return free - amount

    def _bump_epoch(self, account) -> None:
        self.epoch[account] = self.epoch.get(account, 0) + 1

    # ------------------------------------------------------------------------------------------ margin module

    def deposit(self, sender, amount: int) -> None:
        self._tx(self._deposit, addr(sender), amount)

    def deposit_for(self, sender, account, amount: int) -> None:
        self._tx(self._deposit, addr(account), amount)

    def _deposit(self, account, amount):
        if amount == 0:
            fail("ZeroAmount")
        if account == ZERO:
            fail("InvalidParameter", "account", 0)
        self._credit(account, amount)
        self.vault += amount

    def deposit_for_many(self, sender, accounts, amounts) -> None:
        def run():
            if len(accounts) != len(amounts):
                fail("InvalidParameter", "amounts.length", len(amounts))
            total = 0
            for a, amount in zip(accounts, amounts):
                if amount == 0:
                    fail("ZeroAmount")
                if addr(a) == ZERO:
                    fail("InvalidParameter", "account", 0)
                self._credit(addr(a), amount)
                total += amount
            self.vault += total

        self._tx(run)

    def withdraw(self, sender, amount: int) -> None:
        def run():
            if amount == 0:
                fail("ZeroAmount")
            self._debit(addr(sender), amount)
            if self.vault < amount:  # the token's transfer fails: the vault holds less than it owes
                fail("ERC20InsufficientBalance", self.address, self.vault, amount)
            self.vault -= amount

        self._tx(run)

    def add_margin(self, sender, mid: int, amount: int) -> None:
        def run():
            a = addr(sender)
            self._market(mid)
            if amount == 0:
                fail("ZeroAmount")
            pos = self.positions.get((mid, a))
            if pos is None:
                fail("NoPosition", mid, a)
            self._debit(a, amount)
            pos.margin = _uint128(pos.margin + amount)

        self._tx(run)

    def remove_margin(self, sender, mid: int, amount: int, now: int) -> None:
        def run():
            a = addr(sender)
            m = self._active_market(mid)
            if amount == 0:
                fail("ZeroAmount")
            pos = self.positions.get((mid, a))
            if pos is None:
                fail("NoPosition", mid, a)
            price = self._mark(mid, m, now)
            if pos.margin < amount:
                fail("InsufficientPositionMargin", mid, a, pos.margin, amount)
            pos.margin -= amount
            self._credit(a, amount)
            self._require_im(mid, a, m, price)
            notional = notional_up(abs(pos.size), price, self.scale)
            equity = pos.margin + unrealized_pnl(pos.size, pos.open_notional, price, self.scale)
            leverage = UINT256_MAX if equity == 0 else wad_div_up(notional, equity)
            if leverage > m.params.max_leverage:
                fail("LeverageTooHigh", leverage, m.params.max_leverage)

        self._tx(run)

    def _require_im(self, mid, account, m: Market, price) -> None:
        pos = self.positions.get((mid, account))
        if pos is None:
            return
        equity = pos.margin + unrealized_pnl(pos.size, pos.open_notional, price, self.scale)
        im = wad_mul_up(notional_up(abs(pos.size), price, self.scale), m.params.imr)
        if equity < im:
            fail("InsufficientMargin", mid, account, equity, im)

    # ------------------------------------------------------------------------------------------ fills (PerpBase)

    def _fill_trader(self, mid, account, delta, notional, leverage, mark) -> bool:
        pos = self.positions.get((mid, account))
        size = pos.size if pos is not None else 0
        abs_delta = abs(delta)
        open_notional_part = notional
        open_size_part = abs_delta
        if size != 0 and (size > 0) != (delta > 0):
            abs_size = abs(size)
            closed, close_notional, released, pnl = reduction(size, pos.open_notional, abs_delta, notional)
            margin_after = pos.margin + pnl
            if margin_after < 0:
                fail("TradeLeavesBadDebt", mid, account, margin_after)
            if closed == abs_size:
                self._credit(account, margin_after)
                self._close_position(mid, account, pos)
                pos = None
                size = 0
            else:
                kept_size = size - closed if size > 0 else size + closed
                kept_notional = pos.open_notional - released
                released_margin = self._releasable(mid, kept_size, kept_notional, margin_after,
                                                   margin_after * closed // abs_size, mark)
                self._credit(account, released_margin)
                pos.size = _int128(kept_size)
                pos.open_notional = _int128(kept_notional)
                pos.margin = _uint128(margin_after - released_margin)
                return False
            open_size_part = abs_delta - closed
            if open_size_part == 0:
                return False
            open_notional_part = notional - close_notional
        margin_needed = wad_div_up(open_notional_part, leverage)
        self._debit(account, margin_needed)
        is_long = delta > 0
        if size == 0:
            pos = self._open_position(mid, account, is_long)
        pos.size = _int128(pos.size + (open_size_part if is_long else -open_size_part))
        pos.open_notional = _int128(pos.open_notional + (open_notional_part if is_long else -open_notional_part))
        pos.margin = _uint128(pos.margin + margin_needed)
        return True

    def _releasable(self, mid, kept_size, kept_notional, margin_after, pro_rata, mark) -> int:
        equity = margin_after + unrealized_pnl(kept_size, kept_notional, mark, self.scale)
        excess = equity - wad_mul_up(notional_up(abs(kept_size), mark, self.scale), self.markets[mid].params.imr)
        if excess >= pro_rata:
            return pro_rata
        return excess if excess > 0 else 0

    def _fill_fund(self, m: Market, delta, notional) -> None:
        size = m.fund_size
        abs_delta = abs(delta)
        open_notional_part = notional
        open_size_part = abs_delta
        if size != 0 and (size > 0) != (delta > 0):
            closed, close_notional, released, pnl = reduction(size, m.fund_open_notional, abs_delta, notional)
            m.fund_cash += pnl
            m.fund_open_notional -= released
            m.fund_size = size - closed if size > 0 else size + closed
            open_size_part = abs_delta - closed
            if open_size_part == 0:
                return
            open_notional_part = notional - close_notional
        is_long = delta > 0
        m.fund_size += open_size_part if is_long else -open_size_part
        m.fund_open_notional += open_notional_part if is_long else -open_notional_part

    def _open_position(self, mid, account, is_long) -> Position:
        side = self.sides[(mid, is_long)]
        self.open_seq += 1
        pos = Position(0, 0, 0, self.open_seq, len(side))
        side.append(account)
        self.positions[(mid, account)] = pos
        return pos

    def _close_position(self, mid, account, pos: Position) -> None:
        side = self.sides[(mid, pos.size > 0)]
        index = pos.list_index
        last = side[-1]
        if last != account:
            side[index] = last
            self.positions[(mid, last)].list_index = index
        side.pop()
        del self.positions[(mid, account)]

    # ------------------------------------------------------------------------------------------ trading module

    def cancel_order(self, sender, order) -> None:
        def run():
            s = addr(sender)
            if addr(order.account) != s:
                fail("NotOrderOwner", s, addr(order.account))
            self._set_filled(self.hasher(order), UINT256_MAX)

        self._tx(run)

    def cancel_all(self, sender) -> None:
        self._tx(lambda: self._bump_epoch(addr(sender)))

    def settle(self, match: Match, now: int, sender=None) -> None:
        self._tx(self._settle, match, now)

    def settle_batch(self, matches, now: int, sender=None) -> None:
        def run():
            for m in matches:
                self._settle(m, now)

        self._tx(run)

    def _settle(self, mt: Match, now: int) -> None:
        maker, taker = mt.maker, mt.taker
        mid = maker.market_id
        if taker.market_id != mid:
            fail("MarketMismatch", mid, taker.market_id)
        if bool(maker.is_buy) == bool(taker.is_buy):
            fail("SameSide", bool(maker.is_buy))
        if addr(maker.account) == addr(taker.account):
            fail("SelfTrade", addr(maker.account))
        if mt.fill_size == 0:
            fail("ZeroAmount")
        m = self._active_market(mid)
        mark = self._mark(mid, m, now)
        band = bps_down(mark, m.params.oracle_band_bps)
        if mt.fill_price > mark + band or mt.fill_price + band < mark:
            fail("PriceOutsideOracleBand", mt.fill_price, mark, m.params.oracle_band_bps)
        notional = notional_down(mt.fill_size, mt.fill_price, self.scale)
        if notional == 0:
            fail("NotionalTooSmall", mt.fill_size, mt.fill_price)
        mh, mfee = self._fill_order(m, maker, mt.maker_signer, mt, notional, mark, m.params.maker_fee_bps, now)
        th, tfee = self._fill_order(m, taker, mt.taker_signer, mt, notional, mark, m.params.taker_fee_bps, now)
        if mfee + tfee != 0:
            m.fund_cash += mfee + tfee
        buyer, seller = (maker, taker) if maker.is_buy else (taker, maker)
        self.events.append(("Trade", {
            "marketId": mid, "buyer": addr(buyer.account), "seller": addr(seller.account), "size": mt.fill_size,
            "price": mt.fill_price, "notional": notional,
            "buyerFee": mfee if maker.is_buy else tfee, "sellerFee": tfee if maker.is_buy else mfee,
        }))

    def _fill_order(self, m: Market, order, signer, mt: Match, notional, mark, fee_bps, now):
        h = self._use_order(order, signer, mt.fill_size, mt.fill_price, m.params.max_leverage, now)
        mid = order.market_id
        account = addr(order.account)
        before = self.position(mid, account).size
        increased = self._fill_trader(mid, account, mt.fill_size if order.is_buy else -mt.fill_size, notional,
                                      order.leverage, mark)
        if order.reduce_only and increased:
            fail("ReduceOnlyViolated", h, before, self.position(mid, account).size)
        fee = 0
        if fee_bps != 0:
            fee = bps_up(notional, fee_bps)
            self._debit(account, fee)
        if increased:
            self._require_im(mid, account, m, mark)
        return h, fee

    def _use_order(self, order, signer, fill_size, fill_price, max_leverage, now):
        h = self.hasher(order)
        account = addr(order.account)
        recovered = account if signer is None else addr(signer)
        if recovered != account:
            fail("InvalidSignature", account, recovered)
        if now > order.expiry:
            fail("OrderExpired", h, order.expiry, now)
        epoch = self.epoch.get(account, 0)
        if order.epoch != epoch:
            fail("OrderEpochStale", h, order.epoch, epoch)
        if order.leverage > max_leverage:
            fail("LeverageTooHigh", order.leverage, max_leverage)
        if order.leverage < WAD:
            fail("LeverageTooLow", order.leverage)
        if (fill_price > order.limit_price) if order.is_buy else (fill_price < order.limit_price):
            fail("PriceOutsideLimit", h, fill_price, order.limit_price)
        before = self.filled.get(h, 0)
        if before == UINT256_MAX:
            fail("OrderIsCancelled", h)
        if before + fill_size > order.size:
            fail("OrderOverfilled", h, before, fill_size, order.size)
        self._set_filled(h, before + fill_size)
        return h

    # ------------------------------------------------------------------------------------------ insurance fund

    def top_up_fund(self, sender, mid: int, amount: int) -> None:
        def run():
            m = self._market(mid)
            if amount == 0:
                fail("ZeroAmount")
            m.fund_cash += amount
            self.vault += amount

        self._tx(run)

    def poke_fund(self, sender, mid: int, now: int) -> None:
        def run():
            m = self._market(mid)
            self._update_watermark(mid, m, self._mark(mid, m, now), now)

        self._tx(run)

    def _fund_equity(self, m: Market, price) -> int:
        return m.fund_cash + unrealized_pnl(m.fund_size, m.fund_open_notional, price, self.scale)

    def _update_watermark(self, mid, m: Market, price, now):
        equity = self._fund_equity(m, price)
        hwm = m.fund_hwm
        changed = False
        if equity > hwm or now > m.fund_hwm_ts + m.params.hwm_window:
            hwm = equity
            m.fund_hwm = equity
            m.fund_hwm_ts = now
            changed = True
        dd = drawdown(hwm, equity)
        distressed = m.fund_distressed
        if not distressed and dd >= m.params.drawdown_trigger:
            distressed = True
        elif distressed and dd <= m.params.drawdown_stop:
            distressed = False
        if distressed != m.fund_distressed:
            m.fund_distressed = distressed
            changed = True
        if changed:
            self.events.append(("FundWatermarkUpdated", {"marketId": mid, "highWaterMark": hwm, "drawdown": dd,
                                                         "distressed": distressed}))
        return equity, dd

    def _fund_refusal(self, m: Market, size, nb, price) -> int:
        if m.fund_distressed:
            return REFUSE_DISTRESSED
        signed_nb = nb if size > 0 else -nb
        incoming = unrealized_pnl(size, signed_nb, price, self.scale)
        if self._fund_equity(m, price) + incoming < 0:
            return REFUSE_NEGATIVE_EQUITY
        fund_size = m.fund_size
        if fund_size != 0 and (fund_size > 0) != (size > 0):
            pnl = reduction(fund_size, m.fund_open_notional, abs(size), nb)[3]
            if m.fund_cash + pnl < 0:
                return REFUSE_NEGATIVE_EQUITY
        net_after = notional_up(abs(fund_size + size), price, self.scale)
        if net_after > m.params.max_fund_notional and net_after > notional_up(abs(fund_size), price, self.scale):
            return REFUSE_RISK_LIMIT
        return REFUSE_NONE

    def _distress(self, m: Market, equity, price):
        net = notional_up(abs(m.fund_size), price, self.scale)
        if equity < 0:
            return DISTRESS_NEGATIVE_EQUITY, net
        if m.fund_distressed:
            return DISTRESS_DRAWDOWN, net
        if net > m.params.max_fund_notional:
            return DISTRESS_RISK_LIMIT, net
        return DISTRESS_NONE, net

    # ------------------------------------------------------------------------------------------ liquidation

    def liquidate(self, sender, mid: int, account, now: int) -> None:
        def run():
            m = self._market(mid)
            price = self._mark(mid, m, now)
            a = addr(account)
            pos = self.positions.get((mid, a))
            if pos is None:
                fail("NoPosition", mid, a)
            if not self._liquidate(mid, m, a, price, addr(sender), now):
                mm = wad_mul_up(notional_up(abs(pos.size), price, self.scale), m.params.mmr)
                fail("NotLiquidatable", mid, a, pos.margin + unrealized_pnl(pos.size, pos.open_notional, price,
                                                                            self.scale), mm)

        self._tx(run)

    def liquidate_batch(self, sender, mid: int, accounts, now: int) -> int:
        def run():
            m = self._market(mid)
            price = self._mark(mid, m, now)
            count = 0
            for acc in accounts:
                a = addr(acc)
                if (mid, a) in self.positions and self._liquidate(mid, m, a, price, addr(sender), now):
                    count += 1
            return count

        return self._tx(run)

    def is_liquidatable(self, mid, account, price) -> bool:
        pos = self.positions.get((mid, addr(account)))
        if pos is None:
            return False
        equity = pos.margin + unrealized_pnl(pos.size, pos.open_notional, price, self.scale)
        return equity < wad_mul_up(notional_up(abs(pos.size), price, self.scale), self.markets[mid].params.mmr)

    def _liquidate(self, mid, m: Market, account, price, keeper, now) -> bool:
        pos = self.positions[(mid, account)]
        size = pos.size
        equity = pos.margin + unrealized_pnl(size, pos.open_notional, price, self.scale)
        notional = notional_up(abs(size), price, self.scale)
        if equity >= wad_mul_up(notional, m.params.mmr):
            return False
        reward = 0
        if equity > 0:
            reward = min(min(bps_down(notional, m.params.liquidation_reward_bps), m.params.max_liquidation_reward),
                         min(equity, pos.margin))
            if reward != 0:
                pos.margin -= reward
                self._credit(keeper, reward)
        nb = bankruptcy_notional(size, pos.open_notional, pos.margin)
        pb = price_of(nb, abs(size), self.scale)
        self.events.append(("Liquidated", {"marketId": mid, "account": account, "keeper": keeper, "size": size,
                                           "markPrice": price, "bankruptcyPrice": pb, "equity": equity,
                                           "keeperReward": reward}))
        self._update_watermark(mid, m, price, now)
        reason = self._fund_refusal(m, size, nb, price)
        if reason == REFUSE_NONE:
            self._fill_trader(mid, account, -size, nb, 0, price)
            self._fill_fund(m, size, nb)
            self.events.append(("FundAccepted", {"marketId": mid, "account": account, "size": size,
                                                 "bankruptcyPrice": pb}))
        else:
            self.events.append(("FundRefused", {"marketId": mid, "account": account, "reason": reason}))
            self._adl_type1(mid, m, account, size, nb, price)
        return True

    # ------------------------------------------------------------------------------------------ ADL

    def ranked(self, mid, is_long, price) -> list:
        """The eligible positions of one side in ADL order: [(key, account)], best first."""
        keys = self._ranked_candidates(mid, is_long, price)
        side = self.sides[(mid, is_long)]
        return [(k, side[key_index(k)]) for k in keys]

    def _ranked_candidates(self, mid, is_long, price) -> list:
        side = self.sides[(mid, is_long)]
        keys = []
        scale = self.scale
        for i, a in enumerate(side):
            pos = self.positions[(mid, a)]
            u = unrealized_pnl(pos.size, pos.open_notional, price, scale)
            if u > 0:
                keys.append(ranking_key(score(u, pos.margin), abs(pos.size), pos.open_seq, i))
        keys.sort(reverse=True)
        return keys

    def _adl_capacity(self, pos: Position, price_num, price_den) -> int:
        abs_size = abs(pos.size)
        cost = abs(pos.open_notional)
        at_price = price_num * abs_size
        at_cost = cost * price_den
        if (at_cost <= at_price) if pos.size > 0 else (at_price <= at_cost):
            return abs_size
        loss_num = at_cost - at_price if pos.size > 0 else at_price - at_cost
        margin = pos.margin
        if margin <= 2:
            return 0
        return min(abs_size, (margin - 2) * (price_den * abs_size) // loss_num)

    @staticmethod
    def _margin_survives(pos: Position, q, n) -> bool:
        pnl = reduction(pos.size, pos.open_notional, q, n)[3]
        return pos.margin + pnl >= 0

    def _after_adl_fill(self, mid, account, score_, adl_type, delta, price, notional, rank):
        self._bump_epoch(account)
        self.events.append(("AdlFill", {"marketId": mid, "account": account, "adlType": adl_type,
                                        "sizeDelta": delta, "price": price, "notional": notional,
                                        "score": score_, "rank": rank}))

    def _adl_type1(self, mid, m: Market, account, size, nb, price):
        self._fill_trader(mid, account, -size, nb, 0, price)
        abs_size = abs(size)
        filled, pieces = self._type1_fills(mid, size < 0, abs_size, nb, price)
        if filled != abs_size:
            rest = nb - pieces if nb > pieces else 0
            rest_size = abs_size - filled if size > 0 else -(abs_size - filled)
            self._fill_fund(m, rest_size, rest)
            pieces += rest
            self.events.append(("AdlRemainderToFund", {"marketId": mid, "account": account, "size": rest_size}))
        m.fund_cash += nb - pieces if size < 0 else pieces - nb

    def _type1_fills(self, mid, cp_is_long, abs_size, nb, price):
        pb = price_of(nb, abs_size, self.scale)
        keys = self._ranked_candidates(mid, cp_is_long, price)
        accounts = list(self.sides[(mid, cp_is_long)])
        filled = pieces = 0
        for r, k in enumerate(keys):
            if filled == abs_size:
                break
            a = accounts[key_index(k)]
            pos = self.positions[(mid, a)]
            q = min(abs_size - filled, self._adl_capacity(pos, nb, abs_size))
            if q == 0:
                continue
            n = nb * q // abs_size if cp_is_long else mul_div_up(nb, q, abs_size)
            if not self._margin_survives(pos, q, n):
                continue
            delta = -q if cp_is_long else q
            self._fill_trader(mid, a, delta, n, 0, price)
            filled += q
            pieces += n
            self._after_adl_fill(mid, a, key_score(k), ADL_TYPE_BANKRUPT, delta, pb, n, r + 1)
        return filled, pieces

    def deleverage_fund(self, sender, mid: int, now: int) -> None:
        def run():
            m = self._market(mid)
            price = self._mark(mid, m, now)
            equity, dd = self._update_watermark(mid, m, price, now)
            fund_size = m.fund_size
            if fund_size == 0:
                fail("FundFlat", mid)
            reason, net = self._distress(m, equity, price)
            if reason == DISTRESS_NONE:
                fail("FundNotDistressed", mid, equity, dd, net)
            abs_size = abs(fund_size)
            target = 0
            if reason == DISTRESS_RISK_LIMIT:
                target_notional = m.params.max_fund_notional * m.params.notional_stop // WAD
                target = min(abs_size, price_of(target_notional, price, self.scale))
            required = abs_size - target
            filled = self._type2_fills(mid, m, fund_size < 0, price, required)
            if filled != required:
                fail("InsufficientAdlCapacity", mid, required, filled)

        self._tx(run)

    def fund_trade_price(self, m: Market, mark) -> int:
        if m.fund_cash < 0:  # bad debt already: no price keeps cash >= 0, so no cap (as the contract)
            return mark
        size = m.fund_size
        abs_size = abs(size)
        if size > 0:
            owed = m.fund_open_notional - m.fund_cash
            if owed <= 0:
                return mark
            pfb = mul_div_up(owed, WAD * self.scale, abs_size)
            return pfb if pfb > mark else mark
        covered = m.fund_cash - m.fund_open_notional
        pfb_short = price_of(covered, abs_size, self.scale) if covered > 0 else 0
        return pfb_short if pfb_short < mark else mark

    def _type2_fills(self, mid, m: Market, cp_is_long, price, required) -> int:
        trade_price = self.fund_trade_price(m, price)
        keys = self._ranked_candidates(mid, cp_is_long, price)
        accounts = list(self.sides[(mid, cp_is_long)])
        filled = 0
        den = WAD * self.scale
        for r, k in enumerate(keys):
            if filled == required:
                break
            a = accounts[key_index(k)]
            pos = self.positions[(mid, a)]
            q = min(required - filled, self._adl_capacity(pos, trade_price, den))
            if q == 0:
                continue
            n = notional_down(q, trade_price, self.scale) if cp_is_long else notional_up(q, trade_price, self.scale)
            if not self._margin_survives(pos, q, n):
                continue
            delta = -q if cp_is_long else q
            self._fill_trader(mid, a, delta, n, 0, price)
            self._fill_fund(m, -delta, n)
            filled += q
            self._after_adl_fill(mid, a, key_score(k), ADL_TYPE_FUND, delta, trade_price, n, r + 1)
        return filled


# ----------------------------------------------------------------------------------------------- pure scenarios


@dataclass(frozen=True)
class SimpleOrder:
    """A stand-in for perp.orders.Order (same attributes) for pure-model runs."""

    account: str
    market_id: int
    is_buy: bool
    size: int
    limit_price: int
    leverage: int
    nonce: int
    expiry: int
    reduce_only: bool = False
    epoch: int = 0


def reference_model(decimals: int = 6, fund_seed: int | None = None, now: int = 1_700_000_000, hasher=None):
    """A model of ``scripts/deploy.deploy_devnet``: ETH-PERP at 2,000 (id 1), BTC-PERP at 60,000 (id 2), 8-decimal
    feeds, reference parameters, each fund seeded with ``fund_seed`` (100,000 units by default)."""
    from perp.params import default_params

    model = Model(decimals, hasher)
    seed = 100_000 * 10**decimals if fund_seed is None else fund_seed
    for name, price in (("ETH-PERP", 2_000), ("BTC-PERP", 60_000)):
        mid = model.create_market(default_params(name, decimals), price * 10**8, now)
        if seed:
            model.top_up_fund("0x" + "00" * 19 + "01", mid, seed)
    return model


@dataclass
class ScenarioStats:
    steps: int = 0
    reverts: int = 0
    actions: dict = field(default_factory=dict)
    adl_fills: int = 0
    liquidations: int = 0


def random_scenario(seed: int, steps: int = 40, decimals: int = 6, n_accounts: int = 8, stats=None):
    """Runs ``steps`` random actions on a fresh reference model and checks ``Model.check()`` after each."""
    rng = random.Random(seed)
    now = 1_700_000_000
    model = reference_model(decimals, fund_seed=rng.choice([0, 500 * 10**decimals, 100_000 * 10**decimals]), now=now)
    one = 10**decimals
    accts = [f"0x{i:040x}" for i in range(1, n_accounts + 1)]
    keeper = "0x" + "ff" * 20
    nonce = 0
    stats = stats or ScenarioStats()
    for a in accts:
        model.deposit(a, rng.randint(100, 20_000) * one)
    for _ in range(steps):
        now += rng.randint(1, 30)
        kind = rng.choices(["trade", "price", "liq", "batch", "t2", "margin", "withdraw", "cancel"],
                           [10, 5, 3, 2, 2, 2, 1, 1])[0]
        stats.actions[kind] = stats.actions.get(kind, 0) + 1
        mid = rng.choice((1, 2))
        m = model.markets[mid]
        mark = m.answer * 10**10
        try:
            if kind == "trade":
                b, s = rng.sample(accts, 2)
                size = rng.randint(1, 10**6) * (10**12 if mid == 1 else 10**10)
                price = mark * rng.randint(9600, 10400) // 10000
                price -= price % 10**16
                nonce += 2
                mk = SimpleOrder(b, mid, True, size, price, rng.randint(1, 20) * WAD, nonce, now + 3600,
                                 rng.random() < 0.1, model.order_epoch(b))
                tk = SimpleOrder(s, mid, False, size, price, rng.randint(1, 20) * WAD, nonce + 1, now + 3600,
                                 rng.random() < 0.1, model.order_epoch(s))
                model.settle(Match(mk, tk, size, price), now)
            elif kind == "price":
                model.set_price(mid, max(1, m.answer * rng.randint(70, 130) // 100), now)
            elif kind == "liq":
                holders = model.sides[(mid, True)] + model.sides[(mid, False)]
                if holders:
                    model.liquidate(keeper, mid, rng.choice(holders), now)
            elif kind == "batch":
                stats.liquidations += model.liquidate_batch(keeper, mid, accts, now)
            elif kind == "t2":
                model.deleverage_fund(keeper, mid, now)
            elif kind == "margin":
                a = rng.choice(accts)
                if rng.random() < 0.5:
                    model.add_margin(a, mid, rng.randint(1, 500) * one)
                else:
                    model.remove_margin(a, mid, rng.randint(1, 500) * one, now)
            elif kind == "withdraw":
                a = rng.choice(accts)
                model.withdraw(a, rng.randint(1, 2000) * one)
            else:
                model.cancel_all(rng.choice(accts))
        except ModelError:
            stats.reverts += 1
        stats.adl_fills += sum(1 for e in model.events if e[0] == "AdlFill")
        stats.steps += 1
        model.check()
    return model, stats


def benchmark(seconds: float = 10.0, steps: int = 40) -> tuple:
    """(scenarios per minute, stats) for ``random_scenario`` runs of ``steps`` actions for ``seconds``."""
    start = time.perf_counter()
    n = 0
    stats = ScenarioStats()
    while time.perf_counter() - start < seconds:
        random_scenario(n, steps, stats=stats)
        n += 1
    elapsed = time.perf_counter() - start
    return n * 60 / elapsed, stats


if __name__ == "__main__":
    rate, st = benchmark()
    print(f"{rate:,.0f} scenarios/minute of 40 steps (checked after every step); {st.steps} steps, "
          f"{st.reverts} reverted, {st.liquidations} batch liquidations, {st.adl_fills} ADL fills; {st.actions}")
