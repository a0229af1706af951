"""The ADL queue order, mirroring ``contracts/libraries/AdlRanking.sol``: exact scores, the tiers' score bounds, and
the 1-5 queue lights. Pure Python.

``Score = PnL% x EffectiveLeverage = (u / N) x (N / E) = u / E`` with the exact unrealized PnL at mark (no rounding)
for ``u > 0`` (accounts at a loss or at breakeven are never selected); higher first, then the larger position, then
the older one (smaller ``openSeq``). ``uD`` is ``u`` times ``D = 1e18 * scale``, an integer, so comparisons are exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .fixed import WAD, div_up
from .queue import OVERFLOW, Q_BITS, Q_DOWN_BITS, edge_num, key_price

UINT256_MAX = 2**256 - 1


def u_times_d(size: int, open_notional: int, price: int, d: int, index: int = 0, snapshot: int = 0) -> int:
    """The exact unrealized PnL at ``price`` times D, counting what the position owes its side's ``index`` since its
    ``snapshot`` (``size * P - openNotional * D - |size| * (index - snapshot)``)."""
    return size * price - open_notional * d - abs(size) * (index - snapshot)


def frame_price(is_long: bool, price: int, index: int) -> int:
    """``AdlRanking.framePrice``: the mark less a long side's index, plus a short side's."""
    return price - index if is_long else price + index


@dataclass(slots=True)
class Candidate:
    """A position as the ranking sees it (``AdlRanking.Candidate``)."""

    account: str
    u_d: int
    margin: int
    abs_size: int
    open_seq: int
    x_down: int  # u / margin in WAD, rounded down, saturating

    def sort_key(self):
        """A key whose ascending order is the queue order: exact score (u / E orders as x = u / m; a margin of zero
        is the top score), then size, then age."""
        x = -Fraction(self.u_d, self.margin) if self.margin else 0
        return (1 if self.margin else 0, x, -self.abs_size, self.open_seq)


def candidate(account: str, u_d: int, margin: int, abs_size: int, open_seq: int, d: int) -> Candidate:
    md = margin * d
    if md == 0 or u_d // md >= UINT256_MAX // WAD:
        x = UINT256_MAX
    else:
        x = u_d * WAD // md
    return Candidate(account, u_d, margin, abs_size, open_seq, x)


def ahead(a: Candidate, b: Candidate) -> bool:
    """Whether ``a`` ranks strictly ahead of ``b`` (``AdlRanking.ahead``)."""
    l, r = a.u_d * b.margin, b.u_d * a.margin
    if l != r:
        return l > r
    if a.abs_size != b.abs_size:
        return a.abs_size > b.abs_size
    return a.open_seq < b.open_seq


def score_down(u_d: int, margin: int, d: int) -> int:
    """u / E in WAD, rounded down (``AdlRanking.score``)."""
    return u_d * WAD // (margin * d + u_d)


def bound(is_long: bool, key: int, tier: int, fp: int, ref_shift: int) -> int:
    """``AdlRanking.bound``: the WAD upper bound (rounded up) of x = u / m over a tier from a node with ``key``, at
    frame price ``fp``."""
    if tier == OVERFLOW:
        return UINT256_MAX
    return _bound(is_long, key, edge_num(tier), Q_BITS, fp, ref_shift)


def node_bound(is_long: bool, key: int, q_down: int, fp: int, ref_shift: int) -> int:
    """``AdlRanking.nodeBound``: the same bound for one node from its own (rounded-down) q."""
    return _bound(is_long, key, q_down, Q_DOWN_BITS, fp, ref_shift)


def _bound(is_long: bool, key: int, q_num: int, q_bits: int, fp: int, ref_shift: int) -> int:
    k = key_price(key)
    gain = fp - k if is_long else k - fp
    if gain <= 0:
        return 0
    if q_num == 0:
        return UINT256_MAX
    return div_up(gain * (WAD << q_bits), q_num << ref_shift)


def lights(rank: int, count: int) -> int:
    """Queue lights 1..5 by percentile of ``rank`` (1-based) among ``count`` eligible positions (5 = front)."""
    return 5 - ((rank - 1) * 5) // count


def ranked(positions, price: int, scale: int, index: int = 0) -> list[Candidate]:
    """The eligible positions of one side in queue order (the SPEC's order, a plain sort), the side's ``index``
    counted.

    ``positions``: iterable of objects with ``account, size, open_notional, margin, open_seq`` (and
    ``index_snapshot``, 0 if absent)."""
    d = WAD * scale
    out = []
    for p in positions:
        ud = u_times_d(p.size, p.open_notional, price, d, index, getattr(p, "index_snapshot", 0))
        if ud > 0:
            out.append(candidate(p.account, ud, p.margin, abs(p.size), p.open_seq, d))
    out.sort(key=Candidate.sort_key)
    return out


def queue_indicator(positions, price: int, scale: int, index: int = 0) -> dict:
    """Score, rank, eligible count and lights of every position of one side at ``price``, as ``PerpLens.adlQueue``:
    ``{account: (score, rank, eligible, lights)}``; a position that is not eligible gets ``(0, 0, eligible, 0)``."""
    positions = list(positions)
    order = ranked(positions, price, scale, index)
    n = len(order)
    d = WAD * scale
    out = {p.account: (0, 0, n, 0) for p in positions}
    for rank, c in enumerate(order, 1):
        out[c.account] = (score_down(c.u_d, c.margin, d), rank, n, lights(rank, n))
    return out
