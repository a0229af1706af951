"""Reference model: ``AdlModule`` (contracts/modules/AdlModule.sol): the ADL engine (a best-first merge of the queue's
tiers by their score bounds, exact scores for the positions that can be next, bounded work per call), Type 1 and
Type 2. Mirrors the contract step for step, so that it examines the same positions, stops at the same work bound and
hands out the same ranks; ``ranked`` gives the SPEC's order by a plain sort, which the engine must equal."""
from __future__ import annotations

from ..core import (WAD, Position, ahead, bound, candidate, div_up, fail, frame_price, mul_div_up, notional_down,
                    notional_up, price_of_down, queue, ranked, score_down, u_times_d)
from ..core.ranking import node_bound
from ..core import fund_trade_price as _fund_trade_price
from .storage import ADL_TYPE_BANKRUPT, ADL_TYPE_FUND, DISTRESS_NONE, DISTRESS_RISK_LIMIT, Market, reduction

MAX_EXAMINED = 400  # AdlModule.MAX_EXAMINED
MAX_FILLS = 64  # AdlModule.MAX_FILLS
DEFERRED = 2**256 - 1  # a one-node cursor: a node passed over for now, with its own bound


class _Engine:
    """AdlModule.Engine: the merge state of one ADL call; the cursors ``[node, key, list, bound]`` in a binary max-heap
    by bound exactly as the contract keeps it (same pushes, same sifts), so that the same nodes are examined."""

    def __init__(self, model, mid, is_long, mark):
        self.model, self.mid, self.is_long, self.mark = model, mid, is_long, mark
        self.d = WAD * model.scale
        m = model.markets[mid]
        self.index = m.side_index(is_long)
        self.fp = frame_price(is_long, mark, self.index)
        self.ref_shift = m.ref_shift
        self.side = model.queues[(mid, is_long)]
        self.cursors, self.heap = [], []
        for t in range(queue.TIERS + 1):  # the sorted tiers and the overflow list (unbounded)
            if self.side.bitmap >> t & 1:
                key = self.side.head(t)[1]
                self._push([queue.ZERO, key, t, bound(is_long, key, t, self.fp, self.ref_shift)])
        self.cands = []
        self.examined = 0
        self.ranked = 0
        self.out_of_work = False

    # the heap (AdlModule._push, _popTop, _siftDown)

    def _push(self, c):
        if c[3] == 0:
            return
        self.cursors.append(c)
        self.heap.append(len(self.cursors) - 1)
        i = len(self.heap) - 1
        while i:
            parent = (i - 1) // 2
            if self.cursors[self.heap[parent]][3] >= self.cursors[self.heap[i]][3]:
                break
            self.heap[parent], self.heap[i] = self.heap[i], self.heap[parent]
            i = parent

    def _pop_top(self):
        last = self.heap.pop()
        if self.heap:
            self.heap[0] = last
            self._sift_down(0)

    def _sift_down(self, i):
        n, h, c = len(self.heap), self.heap, self.cursors
        while True:
            left = 2 * i + 1
            if left >= n:
                return
            big = left
            if left + 1 < n and c[h[left + 1]][3] > c[h[left]][3]:
                big = left + 1
            if c[h[big]][3] <= c[h[i]][3]:
                return
            h[big], h[i] = h[i], h[big]
            i = big

    def _examine(self, account):
        self.examined += 1
        pos = self.model.positions[(self.mid, account)]
        ud = u_times_d(pos.size, pos.open_notional, self.mark, self.d, self.index, pos.index_snapshot)
        if ud <= 0:
            return
        c, i = self.cands, len(self.cands)
        c.append(candidate(account, ud, pos.margin, abs(pos.size), pos.open_seq, self.d))
        while i:
            parent = (i - 1) // 2
            if not ahead(c[i], c[parent]):
                break
            c[parent], c[i] = c[i], c[parent]
            i = parent

    def _pop_best(self):
        c = self.cands
        best = c[0]
        last = c.pop()
        n = len(c)
        if n:
            c[0] = last
            i = 0
            while True:
                left = 2 * i + 1
                if left >= n:
                    break
                top = left
                if left + 1 < n and ahead(c[left + 1], c[left]):
                    top = left + 1
                if not ahead(c[top], c[i]):
                    break
                c[top], c[i] = c[i], c[top]
                i = top
        return best

    def _advance(self, some):
        c = self.cursors[self.heap[0]]
        if c[2] == DEFERRED:
            self._examine(c[0])
            self._pop_top()
            return
        if c[0] == queue.ZERO:
            c[0] = self.side.head(c[2])[0]
        node = self.model.positions[(self.mid, c[0])]
        now = c[2] == queue.OVERFLOW or not some
        nb = 0
        if not now:
            nb = node_bound(self.is_long, node.key, node.q_down, self.fp, self.ref_shift)
            now = nb >= self.cands[0].x_down
        if now:
            self._examine(c[0])
        else:
            self.examined += 1
            self._push([c[0], 0, DEFERRED, nb])
        nxt = node.next
        c[0] = nxt
        if nxt == queue.ZERO:
            self._pop_top()
        else:
            c[1] = self.model.positions[(self.mid, nxt)].key
            c[3] = bound(self.is_long, c[1], c[2], self.fp, self.ref_shift)
            if c[3] == 0:
                self._pop_top()
            else:
                self._sift_down(0)

    def next(self):
        """(candidate, rank) of the next position in queue order, or (None, 0) (AdlModule._next, the work bound's
        fallback included)."""
        while True:
            some = bool(self.cands)
            if self.heap and (not some or self.cursors[self.heap[0]][3] >= self.cands[0].x_down):
                if self.examined < MAX_EXAMINED:
                    self._advance(some)
                    continue
                self.out_of_work = True
            if not some:
                return None, 0
            self.ranked += 1
            return self._pop_best(), self.ranked


class AdlModule:
    def ranked(self, mid, is_long, price) -> list:
        """The eligible positions of one side in the SPEC's order (a plain sort): [Candidate], best first."""
        side = [_Acct(a, p) for (m, a), p in self.positions.items() if m == mid and (p.size > 0) == is_long]
        return ranked(side, price, self.scale, self.markets[mid].side_index(is_long))

    def engine_order(self, mid, is_long, price) -> list:
        """The order the engine hands positions out in (no fills): [account]; equals ``ranked`` unless the work
        bound is reached first."""
        e = _Engine(self, mid, is_long, price)
        out = []
        while True:
            c, rank = e.next()
            if rank == 0:
                return out
            out.append(c.account)

    def _adl_capacity(self, pos: Position, on, price_num, price_den) -> int:
        """AdlModule._adlCapacity (``on``: the cost basis with the index settled; signed)."""
        abs_size = abs(pos.size)
        at_price = price_num * abs_size
        at_cost = on * price_den
        loss_num = at_cost - at_price if pos.size > 0 else at_price + at_cost
        if loss_num <= 0:
            return abs_size
        margin = pos.margin
        if margin <= 2:
            return 0
        return min(abs_size, (margin - 2) * (price_den * abs_size) // loss_num)

    def _adl_cut(self, mid, account, cp_is_long, left, num, den):
        """AdlModule._adlCut: (size, notional) the ranked position takes, (0, 0) when it cannot be cut."""
        pos = self.positions[(mid, account)]
        on = self._settled_on(self.markets[mid], pos)
        q = min(left, self._adl_capacity(pos, on, num, den))
        if q == 0:
            return 0, 0
        n = num * q // den if cp_is_long else mul_div_up(num, q, den)
        if pos.margin + reduction(pos.size, on, q, n)[3] < 0:
            return 0, 0
        return q, n

    def _after_adl_fill(self, mid, c, adl_type, delta, price, notional, rank, d):
        self._to_overflow(mid, c.account)
        self._bump_epoch(c.account)
        self.events.append(("AdlFill", {"marketId": mid, "account": c.account, "adlType": adl_type,
                                        "sizeDelta": delta, "price": price, "notional": notional,
                                        "score": score_down(c.u_d, c.margin, d), "rank": rank}))

    def _adl_type1(self, mid, m: Market, account, size, nb, price, at_mark=False):
        """AdlModule._adlType1: at the bankruptcy price for a bankrupt position, at mark (its remaining equity to
        the fund's cash) for one that still has equity."""
        cash_before = m.fund_cash
        self._fill_trader(mid, account, -size, nb, 0, price)
        abs_size = abs(size)
        num, den = (price, WAD * self.scale) if at_mark else (nb, abs_size)
        filled, pieces, out_of_work = self._type1_fills(mid, size < 0, abs_size, num, den, price)
        if filled != abs_size:
            rest_abs = abs_size - filled
            if not at_mark:
                rest = nb - pieces if nb > pieces else 0
            else:
                rest = mul_div_up(num, rest_abs, den) if size > 0 else num * rest_abs // den
            rest_size = rest_abs if size > 0 else -rest_abs
            self._fill_fund(m, rest_size, rest)
            pieces += rest
            if out_of_work:
                self.events.append(("AdlWorkLimitReached", {"marketId": mid, "account": account, "size": rest_size}))
            self.events.append(("AdlRemainderToFund", {"marketId": mid, "account": account, "size": rest_size}))
        m.fund_cash += nb - pieces if size < 0 else pieces - nb
        self._socialize_loss(mid, m, account, size < 0, cash_before)

    def _socialize_loss(self, mid, m: Market, account, longs_pay: bool, cash_before: int) -> None:
        """AdlModule._socializeLoss: the loss a Type 1 took the fund's cash below zero by (or below an older deficit)
        is spread over the open positions of the side that gained (fund included), per unit of size (rounded up);
        with no open interest nobody is left to pay and it stays in the fund's cash (``LossUnsocialized``)."""
        cash = m.fund_cash
        if cash >= 0 or cash >= cash_before:
            return
        amount = min(cash_before, 0) - cash
        oi = m.open_interest
        if oi == 0:
            self.events.append(("LossUnsocialized", {"marketId": mid, "account": account, "amount": amount}))
            return
        delta = div_up(amount * WAD * self.scale, oi)
        index = m.side_index(longs_pay) + delta
        if index > self.MAX_INDEX:
            fail("ValueOverflow", index)
        if longs_pay:
            m.long_index = index
        else:
            m.short_index = index
        m.index_balance -= amount
        m.fund_cash = cash + amount
        self.events.append(("LossSocialized", {"marketId": mid, "account": account, "longsPay": longs_pay,
                                               "amount": amount, "indexDelta": delta, "index": index}))

    def _type1_fills(self, mid, cp_is_long, abs_size, num, den, price):
        event_price = num * WAD * self.scale // den
        e = _Engine(self, mid, cp_is_long, price)
        filled = pieces = fills = 0
        while filled != abs_size and fills < MAX_FILLS:
            c, rank = e.next()
            if rank == 0:
                break
            q, n = self._adl_cut(mid, c.account, cp_is_long, abs_size - filled, num, den)
            if q == 0:
                continue
            delta = -q if cp_is_long else q
            self._fill_trader(mid, c.account, delta, n, 0, price)
            filled += q
            pieces += n
            fills += 1
            self._after_adl_fill(mid, c, ADL_TYPE_BANKRUPT, delta, event_price, n, rank, e.d)
        return filled, pieces, e.out_of_work or (filled != abs_size and fills == MAX_FILLS)

    def deleverage_fund(self, sender, mid: int, now: int, max_size: int | None = None) -> None:
        def run():
            if max_size == 0:
                fail("ZeroAmount")
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
                target = min(abs_size, price_of_down(target_notional, price, self.scale))
            required = abs_size - target if max_size is None else min(abs_size - target, max_size)
            filled, out_of_work = self._type2_fills(mid, m, fund_size < 0, price, required)
            if filled != required:
                if out_of_work:
                    fail("AdlWorkLimit", mid, required, filled)
                fail("InsufficientAdlCapacity", mid, required, filled)

        self._tx(run)

    def fund_trade_price(self, m: Market, mark) -> int:
        """AdlModule._fundTradePrice (perp.core.valuation.fund_trade_price)."""
        return _fund_trade_price(m.fund_cash, m.fund_size, m.fund_open_notional, mark, self.scale)

    def _type2_fills(self, mid, m: Market, cp_is_long, price, required):
        trade_price = self.fund_trade_price(m, price)
        e = _Engine(self, mid, cp_is_long, price)
        filled = fills = 0
        den = WAD * self.scale
        while filled != required and fills < MAX_FILLS:
            c, rank = e.next()
            if rank == 0:
                break
            q, n = self._adl_cut(mid, c.account, cp_is_long, required - filled, trade_price, den)
            if q == 0:
                continue
            delta = -q if cp_is_long else q
            self._fill_trader(mid, c.account, delta, n, 0, price)
            self._fill_fund(m, -delta, n)
            filled += q
            fills += 1
            self._after_adl_fill(mid, c, ADL_TYPE_FUND, delta, trade_price, n, rank, e.d)
        return filled, e.out_of_work or (filled != required and fills == MAX_FILLS)


class _Acct:
    """A position with its account, for the plain sort."""

    __slots__ = ("account", "size", "open_notional", "margin", "open_seq", "index_snapshot")

    def __init__(self, account, p):
        self.account, self.size, self.open_notional = account, p.size, p.open_notional
        self.margin, self.open_seq, self.index_snapshot = p.margin, p.open_seq, p.index_snapshot
