"""ADL policies as data: interchangeable pure functions over the same book.

A **book** (``Book``) is one ADL event as any policy sees it: the positions of the side opposite to the position
being offset (``BookEntry``: account, signed size in WAD, signed cost basis ``open_notional`` in collateral units,
margin, opening sequence number), the mark price (WAD), the collateral ``scale`` (``10**(18 - decimals)``) and the
fill price as an exact ratio: a fill of ``q`` (WAD size) costs ``q * price_num / price_den`` collateral units.
Type 1 fills at the bankrupt position's bankruptcy notional ``nb`` for its ``|size|`` (``Book.type1``); Type 2 at the
fund's trade price (``Book.type2``). A **policy** is ``policy(book, amount, **options) -> Outcome``: the fills
``(account, size, notional, haircut)`` that deleverage ``amount`` (WAD size) from the book.

Rules every policy keeps (``tests/lab``):

- only **eligible** positions are touched: unrealized PnL at mark ``u > 0`` exactly (the SPEC's rule, the same pool
  for every policy, so that they are compared on the same book);
- a position gives at most its **capacity**: its size, and no more than its margin can pay at the fill price (the
  contract's ``AdlModule._adlCapacity``, reused from ``perp.model.adl``); a fill whose realized PnL would leave the
  position's margin negative is never made (the margin check of ``AdlModule._adlCut``);
- the fills sum **exactly** to ``amount`` when the eligible capacity allows, otherwise to the whole capacity (the
  protocol queue also stops at the contract's fill bound ``MAX_FILLS``);
- a fill's notional is rounded against the counterparty as the contract does: a seller (long counterparty)
  receives ``floor(q * num / den)``, a buyer (short counterparty) pays ``ceil(q * num / den)``;
- the **haircut** of a fill is the PnL the account would have realized at mark minus the PnL it realized at the
  fill price (``perp.report``'s definition): seller ``notional_down(q, mark) - n``, buyer ``n - notional_up(q, mark)``.
  Positive: it lost to ADL. Negative (a windfall): the fill price was better than mark (a refused position that
  was still solvent, closed at its bankruptcy price).

Sizes are integers in WAD units; every split of ``amount`` below says which way it rounds.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from ..core import WAD, notional_down, notional_up, ranked, u_times_d
from ..model.adl import MAX_FILLS, AdlModule
from ..model.storage import reduction

# ------------------------------------------------------------------------------------------------------ the book


@dataclass(frozen=True)
class BookEntry:
    """A position of the book (the fields the contract's ADL reads)."""

    account: str
    size: int  # signed, WAD
    open_notional: int  # signed cost basis, collateral units (a long paid > 0, a short received < 0)
    margin: int  # collateral units
    open_seq: int  # opening sequence number (smaller = older)
    index_d: int = 0  # what it owes its side's index since its snapshot, times D = WAD * scale, exact

    def settled(self, d: int) -> "BookEntry":
        """The entry with that owed amount settled into its cost basis, rounded against the holder (up), as the
        contract settles it before an ADL fill; what the capacity and margin checks read."""
        if self.index_d == 0:
            return self
        return BookEntry(self.account, self.size, self.open_notional + -(-self.index_d // d), self.margin,
                         self.open_seq)


@dataclass(frozen=True)
class Book:
    """One ADL event's counterparty side at a mark price, with the fill price as ``price_num / price_den``
    collateral units per WAD of size."""

    entries: tuple
    is_long: bool  # the side of the entries (the counterparties): long counterparties sell in ADL
    mark: int  # WAD
    scale: int
    price_num: int
    price_den: int

    @classmethod
    def type1(cls, entries, is_long: bool, mark: int, scale: int, nb: int, abs_size: int,
              at_mark: bool = False) -> "Book":
        """Type 1: a bankrupt position fills at its bankruptcy notional ``nb`` for its ``abs_size`` (a fill of ``q``
        costs ``nb * q / abs_size``, as ``AdlModule._type1Fills``); one that still had equity (``at_mark``: the
        refused position's remaining equity goes to the fund) fills at mark."""
        if at_mark:
            return cls(tuple(entries), is_long, mark, scale, mark, WAD * scale)
        return cls(tuple(entries), is_long, mark, scale, nb, abs_size)

    @classmethod
    def type2(cls, entries, is_long: bool, mark: int, scale: int, trade_price: int) -> "Book":
        """Type 2: fills at the fund's trade price (WAD; mark capped at the fund's bankruptcy price)."""
        return cls(tuple(entries), is_long, mark, scale, trade_price, WAD * scale)

    @property
    def d(self) -> int:
        return WAD * self.scale

    def u_d(self, e: BookEntry) -> int:
        """Unrealized PnL at mark times ``D = WAD * scale``, exact, what it owes its side's index included."""
        return u_times_d(e.size, e.open_notional, self.mark, self.d) - e.index_d

    def eligible(self) -> list:
        """The entries with ``u > 0`` at mark, in book order."""
        return [e for e in self.entries if self.u_d(e) > 0]

    def capacity(self, e: BookEntry) -> int:
        """At most this much of ``e`` can be deleveraged at the fill price (``AdlModule._adlCapacity``)."""
        s = e.settled(self.d)
        return AdlModule._adl_capacity(None, s, s.open_notional, self.price_num, self.price_den)

    def piece(self, q: int) -> int:
        """The notional of a fill of ``q``, against the counterparty: a seller floor, a buyer ceil."""
        if self.is_long:
            return q * self.price_num // self.price_den
        return -((-(q * self.price_num)) // self.price_den)

    def survives(self, e: BookEntry, q: int) -> bool:
        """Whether a fill of ``q`` at the fill price leaves ``e``'s margin >= 0 (``AdlModule._adlCut``'s check)."""
        s = e.settled(self.d)
        return s.margin + reduction(s.size, s.open_notional, q, self.piece(q))[3] >= 0

    def haircut(self, q: int, n: int) -> int:
        """PnL at mark minus PnL realized at the fill (positive: lost to ADL)."""
        if self.is_long:
            return notional_down(q, self.mark, self.scale) - n
        return n - notional_up(q, self.mark, self.scale)


@dataclass(frozen=True)
class Fill:
    account: str
    size: int  # > 0, WAD: how much of the position was closed
    notional: int  # collateral units the counterparty received (a seller) or paid (a buyer)
    haircut: int  # collateral units, signed (see the module docstring)
    rank: int = 0  # 1-based place in the policy's order (queues); 0 for allocation policies


@dataclass(frozen=True)
class Outcome:
    policy: str
    book: Book
    requested: int
    fills: tuple

    @property
    def filled(self) -> int:
        return sum(f.size for f in self.fills)

    @property
    def sizes(self) -> dict:
        out: dict = {}
        for f in self.fills:
            out[f.account] = out.get(f.account, 0) + f.size
        return out

    @property
    def haircuts(self) -> dict:
        """Per-account haircut (signed sum over the account's fills)."""
        out: dict = {}
        for f in self.fills:
            out[f.account] = out.get(f.account, 0) + f.haircut
        return out


def _fill(book: Book, e: BookEntry, q: int, rank: int = 0) -> Fill:
    n = book.piece(q)
    return Fill(e.account, q, n, book.haircut(q, n), rank)


# ------------------------------------------------------------------------------------------------------ queues


def _greedy(book: Book, order, amount: int, max_fills: int | None) -> tuple:
    """The contract's loop (``AdlModule._type1Fills``/``_type2Fills``) over any order: each position in turn gives
    ``min(what is left, its capacity)``; one with no capacity, or whose fill its margin cannot pay, is passed over
    (it keeps its rank number); stops when ``amount`` is filled or after ``max_fills`` fills."""
    fills = []
    filled = 0
    for rank, e in enumerate(order, 1):
        if filled == amount or (max_fills is not None and len(fills) == max_fills):
            break
        q = min(amount - filled, book.capacity(e))
        if q == 0 or not book.survives(e, q):
            continue
        fills.append(_fill(book, e, q, rank))
        filled += q
    return tuple(fills)


def protocol_queue(book: Book, amount: int, max_fills: int | None = MAX_FILLS) -> Outcome:
    """The protocol's own queue: ``Score = PnL% x EffectiveLeverage = (u / N) x (N / E) = u / E`` exactly, higher
    first, ties to the larger position, then the older one (``perp.core.ranking.ranked``, the SPEC's order, which the
    contract's engine equals below its work bound ``MAX_EXAMINED``), filled greedily with the contract's capacity,
    survival and ``MAX_FILLS`` rules. Exact: no rounding of sizes (each fill is ``min(left, capacity)``)."""
    by_account = {e.account: e for e in book.entries}
    order = [by_account[c.account] for c in ranked(book.entries, book.mark, book.scale)]
    return Outcome("queue", book, amount, _greedy(book, order, amount, max_fills))


def pnl_leverage_score(book: Book, e: BookEntry) -> Fraction | None:
    """The venue score, exact: ``PnL% x leverage`` with ``PnL% = u / |open_notional|`` (unrealized PnL over the
    position's entry value, its cost basis) and ``leverage = N / margin`` (mark notional over the margin posted, the
    leverage the trader chose), as Bybit documents its ranking ("in order of highest profit and effective leverage
    use", help.bybit.com, "What is Auto-Deleveraging") and Hyperliquid describes it. ``None`` (the front of the
    queue) for a position with no margin or no cost basis. The protocol's own score is ``u / E`` instead, where
    ``PnL%`` is over mark notional and leverage over equity, so the two orders differ."""
    if e.margin == 0 or e.open_notional == 0:
        return None
    u = Fraction(book.u_d(e), book.d)
    notional = Fraction(abs(e.size) * book.mark, book.d)
    return u / abs(e.open_notional) * notional / e.margin


def pnl_leverage_queue(book: Book, amount: int, max_fills: int | None = None) -> Outcome:
    """A PnL-times-leverage queue (``pnl_leverage_score``): higher first, ties to the larger position, then the older;
    filled greedily like the protocol's queue (no fill bound unless ``max_fills``). Exact, no rounding of sizes."""
    def key(e):
        s = pnl_leverage_score(book, e)
        return (0 if s is None else 1, 0 if s is None else -s, -abs(e.size), e.open_seq)

    order = sorted(book.eligible(), key=key)
    return Outcome("pnl_leverage", book, amount, _greedy(book, order, amount, max_fills))


def sweep_start(seed: int, n: int) -> int:
    """The pseudo-random start of ``dydx_sweep``: ``sha256(seed as 32 big-endian bytes) mod n``."""
    digest = hashlib.sha256(int(seed).to_bytes(32, "big", signed=False)).digest()
    return int.from_bytes(digest, "big") % n


def dydx_sweep(book: Book, amount: int, seed: int = 0) -> Outcome:
    """dYdX v4's unranked sweep: no score at all; the eligible positions in their stored order (here: opening order,
    ``open_seq`` ascending), starting at a pseudo-random index (``sweep_start(seed, n)``, deterministic given the seed)
    and wrapping around once; each gives ``min(left, capacity)`` as in the queues. (dYdX v4 iterates over the
    subaccounts holding the perpetual from a random offset; it does not require profit, but here the pool is the
    same eligible pool as every other policy.) Exact, no rounding of sizes."""
    pool = sorted(book.eligible(), key=lambda e: e.open_seq)
    if not pool:
        return Outcome("dydx_sweep", book, amount, ())
    start = sweep_start(seed, len(pool))
    order = pool[start:] + pool[:start]
    return Outcome("dydx_sweep", book, amount, _greedy(book, order, amount, None))


# ------------------------------------------------------------------------------------------------------ allocations


def _allocate(book: Book, amount: int, split: Callable) -> tuple:
    """Runs ``split(pool, caps, amount) -> [q]`` (lists, by index) over the eligible positions with capacity; a
    position whose allocated fill its margin could not pay (rounding at the capacity's edge) leaves the pool and the
    split is redone."""
    pool = [e for e in book.eligible() if book.capacity(e) > 0]
    while True:
        caps = [book.capacity(e) for e in pool]
        alloc = split(pool, caps, amount)
        bad = {i for i, q in enumerate(alloc) if q and not book.survives(pool[i], q)}
        if not bad:
            return tuple(_fill(book, e, q) for e, q in zip(pool, alloc) if q)
        pool = [e for i, e in enumerate(pool) if i not in bad]


def _pro_rata_split(weights: list, caps: list, amount: int, tie: list) -> list:
    """Splits ``amount`` in proportion to integer ``weights`` with per-entry caps: an entry whose exact share reaches
    its cap gets its cap and the rest is split again among the others; the final shares are floored and the units
    left over (fewer than the entries) go one each to the largest fractional parts, ties by ``tie`` (ascending)."""
    n = len(weights)
    active = [i for i in range(n) if weights[i] > 0 and caps[i] > 0]
    alloc = [0] * n
    left = amount
    while active:
        total = sum(weights[i] for i in active)
        capped = [i for i in active if left * weights[i] >= caps[i] * total]
        if not capped:
            break
        for i in capped:
            alloc[i] = caps[i]
            left -= caps[i]
        capped_set = set(capped)
        active = [i for i in active if i not in capped_set]
    if active and left > 0:
        total = sum(weights[i] for i in active)
        for i in active:
            alloc[i] = left * weights[i] // total
        rest = left - sum(alloc[i] for i in active)
        by_fraction = sorted(active, key=lambda i: (-(left * weights[i] % total), tie[i]))
        for i in by_fraction[:rest]:
            alloc[i] += 1
    return alloc


def pro_rata(book: Book, amount: int) -> Outcome:
    """Pro-rata by unrealized profit (Chitra's fair rule; the SPEC's socialized-loss layer): each eligible position
    is cut in proportion to its exact unrealized profit at mark, ``q_i = amount * u_i / sum(u)``, so that at one fill
    price every haircut is proportional to profit. Caps (capacity) bind first, the excess is split again among the
    others. Rounding: shares floored, the leftover units (fewer than the positions) one each to the largest
    fractional parts, ties to the older position."""
    def split(pool, caps, amount_):
        return _pro_rata_split([book.u_d(e) for e in pool], caps, amount_, [e.open_seq for e in pool])

    return Outcome("pro_rata", book, amount, _allocate(book, amount, split))


WATER_K = WAD * WAD  # resolution of the water level: lambda = level / WATER_K


def leverage(book: Book, e: BookEntry, cut: int = 0, haircut: int = 0) -> Fraction:
    """Effective leverage ``N / E`` at mark, exact: ``(|size| - cut) * mark`` over ``E - haircut`` (E = margin + u,
    unrounded). For an eligible position ``E > 0``."""
    return Fraction((abs(e.size) - cut) * book.mark, (e.margin * book.d + book.u_d(e)) - haircut * book.d)


def water_fill(book: Book, amount: int) -> Outcome:
    """Leverage-draining water-filling (Campbell, Hey, Moallemi, Nutz, arXiv 2603.15963): cut the highest effective
    leverage first, bringing every position above a common level ``lambda`` down to it, ``lambda`` as low as needed
    for the cuts to sum to ``amount``: ``q_i = clamp(|s_i| - floor(lambda * E_i * D / P), 0, capacity_i)`` with
    ``E_i`` the equity at mark before the fill (so the notional left is at most ``lambda * E_i``; at mark, Type 2,
    that is the leverage left; at the bankruptcy price the haircut ``h_i`` makes it ``lambda * E_i / (E_i - h_i)``).
    ``lambda = level / WATER_K`` with the integer ``level`` found by bisection (the smallest level whose cuts do not
    exceed ``amount``). Rounding: the kept size is floored (cuts rounded up) at that level; the units still missing
    (fewer than the positions whose cut moves with one step of the level) go one at a time to the highest leverage
    left, ties to the older position."""
    def split(pool, caps, amount_):
        if sum(caps) <= amount_:
            return list(caps)
        sizes = [abs(e.size) for e in pool]
        ed = [e.margin * book.d + book.u_d(e) for e in pool]
        kp = WATER_K * book.mark
        rows = list(zip(sizes, ed, caps))

        def cuts(level, rows_=rows):
            return [min(c, max(0, s - level * x // kp)) for s, x, c in rows_]

        lo, hi = 0, max(-((-(kp * s)) // x) for s, x, _ in rows) + 1  # every cut at hi is 0
        active, fixed = rows, 0  # a cut is non-increasing in the level: one equal at lo and hi is fixed between
        step = 0
        while lo < hi:  # smallest level with sum(cuts) <= amount (sum(cuts(0)) = sum(caps) > amount)
            mid = (lo + hi) // 2
            if fixed + sum(cuts(mid, active)) <= amount_:
                hi = mid
            else:
                lo = mid + 1
            step += 1
            if step % 8 == 0:  # drop the cuts that no longer move (speed only; the result is the same)
                keep = []
                for r, a, b in zip(active, cuts(lo, active), cuts(hi, active)):
                    if a == b:
                        fixed += a
                    else:
                        keep.append(r)
                active = keep
        alloc = cuts(lo)
        rest = amount_ - sum(alloc)
        while rest:
            room = [i for i in range(len(pool)) if alloc[i] < caps[i]]
            if not room:  # cannot happen (sum(caps) > amount), kept as a guard against a silent loop
                break
            room.sort(key=lambda i: (-leverage(book, pool[i], alloc[i]), pool[i].open_seq))
            for i in room[:rest]:
                alloc[i] += 1
            rest = amount_ - sum(alloc)
        return alloc

    return Outcome("water_fill", book, amount, _allocate(book, amount, split))


POLICIES = {
    "queue": protocol_queue,
    "pnl_leverage": pnl_leverage_queue,
    "pro_rata": pro_rata,
    "water_fill": water_fill,
    "dydx_sweep": dydx_sweep,
}
