"""Reference model: ``PerpBase`` (contracts/base/PerpBase.sol and PerpStorage.sol): the state the contracts keep, atomic transactions
(a failing action leaves the state exactly as before), oracle reads, free collateral, and how a fill changes a
position or the fund."""
from __future__ import annotations

from ..core.fixed import WAD
from ..core.valuation import equity as equity_at
from ..core import (ModelError, Position, fail, fund_equity, index_owed_up, notional_down, notional_up, queue,
                    unrealized_pnl_down, wad_mul_up)
from ..core.fixed import wad_div_up as _wad_div_up
from .storage import ZERO, Market, _int128, _uint96, _uint128, addr, default_hasher, reduction


def wad_div_up(x: int, y: int) -> int:
    """PerpMath.wadDivUp, with the EVM's division-by-zero panic."""
    if y == 0:
        fail("Panic", 0x12)
    return _wad_div_up(x, y)


MAX_PRICE = 2**95  # PerpBase.MAX_PRICE: the largest usable mark (WAD)


class PerpBase:
    def __init__(self, decimals: int = 6, hasher=None, address: str = "0x" + "00" * 19 + "fe"):
        if decimals > 18:
            fail("UnsupportedDecimals", decimals)
        self.decimals = decimals
        self.scale = 10 ** (18 - decimals)
        self.hasher = hasher or default_hasher
        self.free: dict = {}
        self.epoch: dict = {}
        self.positions: dict = {}  # (market_id, account) -> Position (open positions only)
        self.queues: dict = {}  # (market_id, is_long) -> perp.core.queue.Side (the ADL queue)
        self.filled: dict = {}  # order hash -> filled amount (UINT256_MAX once cancelled)
        self.markets: dict = {}
        self.market_count = 0
        self.open_seq = 0
        self.vault = 0  # the collateral token balance of the contract
        self.address = addr(address)  # the contract's address (named by the token's transfer error)
        self.events: list = []
        self._filled_journal = None

    def _begin(self):
        snap = (dict(self.free), dict(self.epoch), {k: p.copy() for k, p in self.positions.items()},
                {k: q.copy() for k, q in self.queues.items()}, {k: m.copy() for k, m in self.markets.items()},
                self.open_seq, self.vault, self.market_count)
        self._filled_journal = []
        self.events = []
        return snap

    def _rollback(self, snap):
        (self.free, self.epoch, self.positions, self.queues, self.markets, self.open_seq, self.vault,
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
        if m.updated_at > now:
            fail("OracleUpdatedInFuture", mid, m.updated_at, now)
        max_age = m.params.max_oracle_age
        if m.updated_at + max_age < now:
            fail("StaleOraclePrice", mid, m.updated_at, max_age)
        price = m.answer * 10 ** (18 - m.oracle_decimals)
        if price > MAX_PRICE:
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
        """Every account of one side in the queue's storage order (``sidePositions``): overflow, then each tier."""
        return self.queues[(mid, is_long)].walk(self._book(mid))

    def _book(self, mid):
        """The positions of one market as the queue functions take them (account -> Position)."""
        return lambda a: self.positions.get((mid, a))

    def position_equity(self, mid, account, price) -> int:
        p = self.position(mid, account)
        return equity_at(p.size, self._settled_on(self.markets[mid], p), p.margin, price, self.scale)

    def market_index(self, mid) -> tuple:
        return self._market(mid).index_tuple()

    # the side indices (PerpBase: _indexOwedUp, _settledOpenNotional, _settleIndex, _settleFundIndex)

    MAX_INDEX = 2**94

    def _settled_on(self, m: Market, pos: Position) -> int:
        """The cost basis once what the position owes its side's index is settled."""
        return pos.open_notional + index_owed_up(pos.size, m.side_index(pos.size > 0), pos.index_snapshot, self.scale)

    def _settle_index(self, mid, m: Market, account, pos: Position) -> None:
        if pos is None or pos.size == 0:
            return
        index = m.side_index(pos.size > 0)
        if index == pos.index_snapshot:
            return
        paid = index_owed_up(pos.size, index, pos.index_snapshot, self.scale)
        pos.index_snapshot = index
        if paid != 0:
            pos.open_notional = _int128(pos.open_notional + paid)
            m.index_balance += paid
        self.events.append(("IndexSettled", {"marketId": mid, "account": account, "amount": paid}))

    def _settle_fund_index(self, mid, m: Market) -> None:
        if m.fund_size == 0:
            return
        index = m.side_index(m.fund_size > 0)
        if index == m.fund_index_snapshot:
            return
        paid = index_owed_up(m.fund_size, index, m.fund_index_snapshot, self.scale)
        m.fund_index_snapshot = index
        if paid != 0:
            m.fund_open_notional += paid
            m.index_balance += paid
        self.events.append(("IndexSettled", {"marketId": mid, "account": ZERO, "amount": paid}))

    # funding (PerpBase._fundingStep, _accrueFunding)

    @staticmethod
    def _funding_step(m: Market, now: int) -> tuple:
        """(index step per unit of size that longs pay, the rate from now on)."""
        rate = m.funding_rate
        if m.funding_period == 0:
            return 0, rate
        elapsed = now - m.funding_last
        mag = abs(rate) * (m.funding_price * elapsed) // (m.funding_period * WAD)
        step = mag if rate >= 0 else -mag
        move = m.funding_max_change * elapsed // m.funding_period
        target = m.funding_target
        if target > rate:
            nxt = rate + move if target - rate > move else target
        else:
            nxt = rate - move if rate - target > move else target
        return step, nxt

    def _accrue_funding(self, mid, m: Market, now: int, price: int = 0) -> None:
        if m.funding_period == 0:
            return
        if now != m.funding_last:
            step, nxt = self._funding_step(m, now)
            rate = m.funding_rate
            long_index, short_index = m.long_index + step, m.short_index - step
            if max(abs(long_index), abs(short_index)) > self.MAX_INDEX:
                fail("ValueOverflow", abs(step))
            m.funding_last = now
            if step != 0 or nxt != rate:
                m.long_index, m.short_index, m.funding_rate = long_index, short_index, nxt
                self.events.append(("FundingAccrued", {"marketId": mid, "rate": rate, "price": m.funding_price,
                                                       "longIndex": long_index, "shortIndex": short_index,
                                                       "nextRate": nxt}))
        if price != 0:
            m.funding_price = price

    def view_open_notional(self, mid, pos: Position, now: int) -> int:
        """A position's cost basis as ``PerpLens`` values it at time ``now``: what it owes its side's index settled,
        the funding accrued up to ``now`` included (a touch now would settle exactly this)."""
        m = self._market(mid)
        step, _ = self._funding_step(m, now)
        index = m.side_index(pos.size > 0) + (step if pos.size > 0 else -step)
        return pos.open_notional + index_owed_up(pos.size, index, pos.index_snapshot, self.scale)

    def view_fund_open_notional(self, mid, now: int) -> int:
        """The fund's cost basis as ``PerpLens.fundState`` values it at time ``now``."""
        m = self._market(mid)
        step, _ = self._funding_step(m, now)
        index = m.side_index(m.fund_size > 0) + (step if m.fund_size > 0 else -step)
        return m.fund_open_notional + index_owed_up(m.fund_size, index, m.fund_index_snapshot, self.scale)

    def funding_state(self, mid, now: int) -> tuple:
        """As ``fundingState``: ((period, maxRate, maxRateChange), rate, target, price, lastAccrual, long index now,
        short index now)."""
        m = self._market(mid)
        step, _ = self._funding_step(m, now)
        return ((m.funding_period, m.funding_max_rate, m.funding_max_change), m.funding_rate, m.funding_target,
                m.funding_price, m.funding_last, m.long_index + step, m.short_index - step)

    @staticmethod
    def _after_size_change(m: Market, before: int, after: int) -> None:
        m.open_interest = _uint128(m.open_interest + max(after, 0) - max(before, 0))

    def fund_equity(self, mid, price) -> int:
        return self._fund_equity(self.markets[mid], price)

    def snapshot(self) -> dict:
        """Plain values for comparisons: free, epochs, positions (every stored field), the queues, funds."""
        return {
            "free": {a: v for a, v in self.free.items()},
            "epoch": dict(self.epoch),
            "positions": {k: p.as_tuple() for k, p in self.positions.items()},
            "queues": {k: (q.bitmap, {t: tuple(h) for t, h in sorted(q.heads.items())})
                       for k, q in self.queues.items()},
            "funds": {mid: m.fund_tuple() for mid, m in self.markets.items()},
            "vault": self.vault,
        }

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
        """PerpBase._bumpOrderEpoch: cancels every outstanding order of ``account``."""
        self.epoch[account] = self.epoch.get(account, 0) + 1
        self.events.append(("OrderEpochBumped", {"account": account, "newEpoch": self.epoch[account]}))

    def _require_im(self, mid, account, m: Market, price) -> None:
        pos = self.positions.get((mid, account))
        if pos is None:
            return
        equity = equity_at(pos.size, self._settled_on(m, pos), pos.margin, price, self.scale)
        im = wad_mul_up(notional_up(abs(pos.size), price, self.scale), m.params.imr)
        if equity < im:
            fail("InsufficientMargin", mid, account, equity, im)

    def _fill_trader(self, mid, account, delta, notional, leverage, mark) -> bool:
        """PerpBase._fillTrader: settles the index first; a new (or flipped) position starts at its side's index."""
        m = self.markets[mid]
        pos = self.positions.get((mid, account))
        before = pos.size if pos is not None else 0
        self._settle_index(mid, m, account, pos)
        increased = self._apply_fill(mid, account, delta, notional, leverage, mark)
        pos = self.positions.get((mid, account))
        after = pos.size if pos is not None else 0
        if after != 0 and (before == 0 or (before > 0) != (after > 0)):
            pos.index_snapshot = m.side_index(after > 0)
        self._after_size_change(m, before, after)
        return increased

    def _apply_fill(self, mid, account, delta, notional, leverage, mark) -> bool:
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
                pos.margin = _uint96(margin_after - released_margin)
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
        pos.margin = _uint96(pos.margin + margin_needed)
        return True

    def _releasable(self, mid, kept_size, kept_notional, margin_after, pro_rata, mark) -> int:
        equity = margin_after + unrealized_pnl_down(kept_size, kept_notional, mark, self.scale)
        excess = equity - wad_mul_up(notional_up(abs(kept_size), mark, self.scale), self.markets[mid].params.imr)
        if excess >= pro_rata:
            return pro_rata
        return excess if excess > 0 else 0

    def _fill_fund(self, m: Market, delta, notional) -> None:
        """PerpBase._fillFund: the fund's index settled first; open interest follows."""
        before = m.fund_size
        self._settle_fund_index(m.market_id, m)
        self._apply_fund_fill(m, delta, notional)
        after = m.fund_size
        if after != 0 and (before == 0 or (before > 0) != (after > 0)):
            m.fund_index_snapshot = m.side_index(after > 0)
        self._after_size_change(m, before, after)

    def _apply_fund_fill(self, m: Market, delta, notional) -> None:
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
        self.open_seq += 1
        pos = Position(open_seq=self.open_seq)
        self.positions[(mid, account)] = pos
        return pos

    def _close_position(self, mid, account, pos: Position) -> None:
        queue.remove_closing(self.queues[(mid, pos.size > 0)], self._book(mid), account)
        del self.positions[(mid, account)]

    # ADL queue and minimum size (PerpBase._requeue, _toOverflow, _requireMinNotional)

    def _requeue(self, mid, account, hint) -> None:
        pos = self.positions.get((mid, account))
        if pos is None:
            return
        queue.requeue(self.queues[(mid, pos.size > 0)], self._book(mid), account, pos.size > 0, addr(hint), self.scale,
                      self.markets[mid].ref_shift)

    def _to_overflow(self, mid, account) -> None:
        pos = self.positions.get((mid, account))
        if pos is not None:
            queue.to_overflow(self.queues[(mid, pos.size > 0)], self._book(mid), account)

    def _require_min_notional(self, mid, m: Market, account, price) -> None:
        pos = self.positions.get((mid, account))
        if pos is None:
            return
        notional = notional_down(abs(pos.size), price, self.scale)
        if notional < m.params.min_position_notional:
            fail("PositionBelowMinimum", mid, account, notional, m.params.min_position_notional)

    def _fund_equity(self, m: Market, price) -> int:
        return fund_equity(m.fund_cash, m.fund_size, m.fund_open_notional, price, self.scale)
