"""The ADL queue, mirroring ``contracts/libraries/AdlQueue.sol`` operation for operation (docs/design/adl-queue.md):
per market side, tiers of ``q = margin / |openNotional|`` (4 per octave between 2^-12 and 4, a bottom and a top
tier), each a doubly linked list sorted by the entry key (longs ascending, shorts descending), a bitmap of the tiers
in use, and an overflow list for positions cut by ADL. Pure Python: the model, the replay and the audit use it.

The functions take ``get``, a callable from an account to its ``perp.core.Position`` (whose ``tier, queued,
overflow_index, next, key, prev`` fields are the list's nodes), exactly as the library takes the positions mapping.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import fail

TIERS = 58
TOP_TIER = 57
MAX_WALK = 128
ZERO = "0x0000000000000000000000000000000000000000"
UINT96_MAX = 2**96 - 1


def tier_of(margin: int, abs_open_notional: int) -> int:
    """The tier of a position: the largest t whose lower edge is at most q = margin / |openNotional|."""
    if abs_open_notional == 0:
        return TOP_TIER
    r = margin * (1 << 14) // abs_open_notional
    if r < 4:
        return 0
    octave = r.bit_length() - 1 - 2
    if octave >= 14:
        return TOP_TIER
    return 1 + 4 * octave + ((r >> octave) - 4)


def edge_num(t: int) -> int:
    """The lower edge of tier t as a numerator over 2^14 (tier 0: 0)."""
    if t == 0:
        return 0
    if t == TOP_TIER:
        return 4 << 14
    return (4 + (t - 1) % 4) << ((t - 1) // 4)


def key_of(size: int, open_notional: int, scale: int) -> int:
    """The entry price (WAD) rounded towards the less profitable side: long down, short up."""
    num = abs(open_notional) * 10**18 * scale
    a = abs(size)
    key = num // a if size > 0 else -(-num // a)
    if key > UINT96_MAX:
        fail("ValueOverflow", key)
    return key


def ahead(is_long: bool, a: int, b: int) -> bool:
    return a < b if is_long else a > b


@dataclass
class Side:
    """One side of one market: the tier bitmap, each tier's head and head key, and the overflow list."""

    bitmap: int = 0
    heads: dict = field(default_factory=dict)  # tier -> [head account, head key]
    overflow: list = field(default_factory=list)

    def copy(self) -> "Side":
        return Side(self.bitmap, {t: list(h) for t, h in self.heads.items()}, list(self.overflow))

    def head(self, t: int):
        return self.heads.get(t, [ZERO, 0])

    def walk(self, get) -> list:
        """Every account in storage order: the overflow list, then each tier from its head."""
        out = list(self.overflow)
        for t in range(TIERS):
            a = self.head(t)[0]
            while a != ZERO:
                out.append(a)
                a = get(a).next
        return out

    def tier_list(self, t: int, get) -> list:
        out, a = [], self.head(t)[0]
        while a != ZERO:
            out.append(a)
            a = get(a).next
        return out


def _valid_hint(get, hint: str, account: str, t: int) -> str:
    if hint == ZERO or hint == account:
        return ZERO
    h = get(hint)
    return hint if h is not None and h.queued and h.tier == t else ZERO


def insert(side: Side, get, account: str, is_long: bool, hint: str, scale: int) -> None:
    pos = get(account)
    t = tier_of(pos.margin, abs(pos.open_notional))
    key = key_of(pos.size, pos.open_notional, scale)
    p = _valid_hint(get, hint, account, t)
    steps = 0
    if p != ZERO and ahead(is_long, key, get(p).key):
        while p != ZERO and ahead(is_long, key, get(p).key):
            p = get(p).prev
            steps += 1
            if steps > MAX_WALK:
                fail("QueueHintTooFar", account, hint)
    n = side.head(t)[0] if p == ZERO else get(p).next
    while n != ZERO and not ahead(is_long, key, get(n).key):
        p = n
        n = get(n).next
        steps += 1
        if steps > MAX_WALK:
            fail("QueueHintTooFar", account, hint)
    pos.tier, pos.key, pos.queued, pos.prev, pos.next = t, key, True, p, n
    if p == ZERO:
        if n == ZERO:
            side.bitmap |= 1 << t
        side.heads[t] = [account, key]
    else:
        get(p).next = account
    if n != ZERO:
        get(n).prev = account


def remove(side: Side, get, account: str) -> None:
    pos = get(account)
    if pos.queued:
        p, n = pos.prev, pos.next
        if p == ZERO:
            side.heads[pos.tier] = [n, 0 if n == ZERO else get(n).key]
            if n == ZERO:
                side.bitmap &= ~(1 << pos.tier)
                side.heads.pop(pos.tier, None)
        else:
            get(p).next = n
        if n != ZERO:
            get(n).prev = p
        pos.queued, pos.prev, pos.next = False, ZERO, ZERO
    elif pos.overflow_index != 0:
        lst = side.overflow
        i = pos.overflow_index - 1
        last = lst[-1]
        if last != account:
            lst[i] = last
            get(last).overflow_index = i + 1
        lst.pop()
        pos.overflow_index = 0


def requeue(side: Side, get, account: str, is_long: bool, hint: str, scale: int) -> None:
    pos = get(account)
    if pos.queued:
        t = tier_of(pos.margin, abs(pos.open_notional))
        key = key_of(pos.size, pos.open_notional, scale)
        p, n = pos.prev, pos.next
        if (t == pos.tier and (p == ZERO or not ahead(is_long, key, get(p).key))
                and (n == ZERO or not ahead(is_long, get(n).key, key))):
            if key != pos.key:
                pos.key = key
                if p == ZERO:
                    side.heads[t][1] = key
            return
        if hint == ZERO:
            hint = p
    remove(side, get, account)
    insert(side, get, account, is_long, ZERO if hint == account else hint, scale)


def to_overflow(side: Side, get, account: str) -> None:
    pos = get(account)
    if pos.overflow_index != 0:
        return
    remove(side, get, account)
    side.overflow.append(account)
    pos.overflow_index = len(side.overflow)
