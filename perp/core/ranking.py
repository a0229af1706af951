"""The ADL queue order, mirroring ``contracts/libraries/AdlRanking.sol``: the score, the one-word ranking key,
and the 1-5 queue lights. Pure Python.

``Score = PnL% x EffectiveLeverage = (u / N) x (N / E) = u / E`` for ``u > 0`` (accounts at a loss or at
breakeven are never selected); higher first, then the larger position, then the older one (smaller ``openSeq``).
"""
from __future__ import annotations

from .fixed import UINT64_MAX, WAD, unrealized_pnl_down

SIZE_CAP = 2**96 - 1
INDEX_MASK = 2**32 - 1


def score_down(u: int, margin: int) -> int:
    """u / (margin + u) in WAD, rounded down (u > 0)."""
    return u * WAD // (margin + u)


def ranking_key(score: int, abs_size: int, open_seq: int, index: int) -> int:
    """``score << 192 | min(|size|, 2^96-1) << 96 | (2^64-1 - openSeq) << 32 | index``: a higher key goes first."""
    size = abs_size if abs_size < SIZE_CAP else SIZE_CAP
    return (score << 192) | (size << 96) | ((UINT64_MAX - open_seq) << 32) | index


def key_score(key: int) -> int:
    return key >> 192


def key_index(key: int) -> int:
    return key & INDEX_MASK


def position_key(size: int, open_notional: int, margin: int, open_seq: int, index: int, price: int,
                 scale: int) -> int:
    """The ranking key of one position at ``price`` (0 when not eligible: u <= 0), as ``PerpLens._key``."""
    u = unrealized_pnl_down(size, open_notional, price, scale)
    if u <= 0:
        return 0
    return ranking_key(score_down(u, margin), abs(size), open_seq, index)


def lights(rank: int, count: int) -> int:
    """Queue lights 1..5 by percentile of ``rank`` (1-based) among ``count`` eligible positions (5 = front)."""
    return 5 - ((rank - 1) * 5) // count


def queue(positions, price: int, scale: int) -> dict:
    """Score, rank, eligible count and lights of every position of one side at ``price``.

    ``positions``: iterable of objects with ``account, size, open_notional, margin, open_seq`` (one side of one
    market). Returns ``{account: (score, rank, eligible, lights)}``; a position that is not eligible gets
    ``(0, 0, eligible, 0)``, as ``PerpLens.adlQueue``."""
    keyed = [(position_key(p.size, p.open_notional, p.margin, p.open_seq, 0, price, scale), p.account)
             for p in positions]
    eligible = sorted((k for k in keyed if k[0]), reverse=True)
    n = len(eligible)
    out = {account: (0, 0, n, 0) for k, account in keyed if not k}
    for rank, (k, account) in enumerate(eligible, 1):
        out[account] = (key_score(k), rank, n, lights(rank, n))
    return out
