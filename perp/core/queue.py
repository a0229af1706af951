"""The ADL queue, mirroring ``contracts/libraries/AdlQueue.sol`` operation for operation (docs/design/adl-queue.md):
per market side, tiers of ``q = margin / |openNotional|`` (STEPS per octave between 2^-12 and 4, a bottom and a top
tier), each a doubly linked list sorted by the entry key (longs ascending, shorts descending), an overflow list (index TIERS)
for positions cut by ADL, and a bitmap of the lists in use. Pure Python: the model, the replay and the audit use it.

The functions take ``get``, a callable from an account to its ``perp.core.Position`` (whose ``tier, queued, next,
key, prev`` fields are the list's nodes), exactly as the library takes the positions mapping.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import fail

STEP_BITS = 3  # AdlQueue.STEP_BITS: 2**STEP_BITS tiers per octave of q
STEPS = 1 << STEP_BITS
OCTAVES = 14
Q_BITS = 12 + STEP_BITS
TOP_TIER = 1 + STEPS * OCTAVES
TIERS = TOP_TIER + 1  # sorted tiers 0..TOP_TIER
OVERFLOW = TIERS  # the overflow list (unsorted; positions cut by ADL)
MAX_WALK = 128
KEY_SHIFT = 30  # keys are entry prices in units of 2^30 wei
Q_DOWN_BITS = 20  # a node's q_down is q in units of 2^-20, rounded down, capped at 2^32 - 1
UINT32_MAX = 2**32 - 1
ZERO = "0x0000000000000000000000000000000000000000"
UINT64_MAX = 2**64 - 1


def tier_of(margin: int, abs_open_notional: int) -> int:
    """The tier of a position: the largest t whose lower edge is at most q = margin / |openNotional|."""
    if abs_open_notional == 0:
        return TOP_TIER
    r = margin * (1 << Q_BITS) // abs_open_notional
    if r < STEPS:
        return 0
    octave = r.bit_length() - 1 - STEP_BITS
    if octave >= OCTAVES:
        return TOP_TIER
    return 1 + STEPS * octave + ((r >> octave) - STEPS)


def edge_num(t: int) -> int:
    """The lower edge of tier t as a numerator over 2^Q_BITS (tier 0 and the overflow list: 0, no bound)."""
    if t == 0 or t == OVERFLOW:
        return 0
    if t == TOP_TIER:
        return STEPS << OCTAVES
    return (STEPS + (t - 1) % STEPS) << ((t - 1) // STEPS)


def key_of(size: int, open_notional: int, scale: int) -> int:
    """The entry price (WAD) in units of 2^KEY_SHIFT, rounded towards the less profitable side: long down, short up."""
    num = abs(open_notional) * 10**18 * scale
    a = abs(size) << KEY_SHIFT
    key = num // a if size > 0 else -(-num // a)
    if key > UINT64_MAX:
        fail("ValueOverflow", key)
    return key


def q_down_of(margin: int, abs_open_notional: int) -> int:
    """q = margin / |openNotional| in units of 2^-Q_DOWN_BITS, rounded down, capped (AdlQueue.qDownOf)."""
    if abs_open_notional == 0:
        return UINT32_MAX
    return min(margin * (1 << Q_DOWN_BITS) // abs_open_notional, UINT32_MAX)


def ahead(is_long: bool, a: int, b: int) -> bool:
    return a < b if is_long else a > b


@dataclass
class Side:
    """One side of one market: the bitmap of non-empty lists, and each list's head and head key (lists 0..TOP_TIER
    are the sorted tiers, list OVERFLOW the overflow list)."""

    bitmap: int = 0
    heads: dict = field(default_factory=dict)  # list -> [head account, head key]

    def copy(self) -> "Side":
        return Side(self.bitmap, {t: list(h) for t, h in self.heads.items()})

    def head(self, t: int):
        return self.heads.get(t, [ZERO, 0])

    def lists_in_use(self) -> list:
        """The lists that the bitmap marks or that have a head, ascending (the overflow list last); every other list
        is empty with its bit clear, so nothing about it can be wrong."""
        marked = {t for t in range(TIERS + 1) if self.bitmap >> t & 1} if self.bitmap else set()
        return sorted(marked | {t for t, h in self.heads.items() if h[0] != ZERO})

    def walk(self, get) -> list:
        """Every account in storage order (``sidePositions``): each list from its head, the overflow list last."""
        out = []
        for t in self.lists_in_use():
            out.extend(self.tier_list(t, get))
        return out

    def tier_list(self, t: int, get) -> list:
        out, a = [], self.head(t)[0]
        while a != ZERO:
            out.append(a)
            a = get(a).next
        return out

    @property
    def overflow_head(self) -> str:
        return self.head(OVERFLOW)[0]


def _valid_hint(get, hint: str, account: str, t: int) -> str:
    if hint == ZERO or hint == account:
        return ZERO
    h = get(hint)
    return hint if h is not None and h.queued and h.tier == t else ZERO


def _link(side: Side, get, account: str, pos, t: int, p: str, n: str) -> None:
    pos.tier, pos.queued, pos.prev, pos.next = t, True, p, n
    if p == ZERO:
        if n == ZERO:
            side.bitmap |= 1 << t
        side.heads[t] = [account, pos.key]
    else:
        get(p).next = account
    if n != ZERO:
        get(n).prev = account


def _unlink(side: Side, get, pos) -> None:
    p, n = pos.prev, pos.next
    if p == ZERO:
        if n == ZERO:
            side.bitmap &= ~(1 << pos.tier)
            side.heads.pop(pos.tier, None)
        else:
            side.heads[pos.tier] = [n, get(n).key]
    else:
        get(p).next = n
    if n != ZERO:
        get(n).prev = p


def insert(side: Side, get, account: str, is_long: bool, hint: str, scale: int) -> None:
    pos = get(account)
    t = tier_of(pos.margin, abs(pos.open_notional))
    key = key_of(pos.size, pos.open_notional, scale)
    p = _valid_hint(get, hint, account, t)
    steps = 0
    if p != ZERO and not ahead(is_long, get(p).key, key):  # the hint is not ahead of the key: towards the head
        while p != ZERO and not ahead(is_long, get(p).key, key):
            p = get(p).prev
            steps += 1
            if steps > MAX_WALK:
                fail("QueueHintTooFar", account, hint)
    n = side.head(t)[0] if p == ZERO else get(p).next
    while n != ZERO and ahead(is_long, get(n).key, key):  # (a position goes before the nodes with an equal key)
        p = n
        n = get(n).next
        steps += 1
        if steps > MAX_WALK:
            fail("QueueHintTooFar", account, hint)
    pos.key = key
    pos.q_down = q_down_of(pos.margin, abs(pos.open_notional))
    _link(side, get, account, pos, t, p, n)


def remove(side: Side, get, account: str) -> None:
    pos = get(account)
    if not pos.queued:
        return
    _unlink(side, get, pos)
    pos.queued, pos.prev, pos.next = False, ZERO, ZERO


def requeue(side: Side, get, account: str, is_long: bool, hint: str, scale: int) -> None:
    pos = get(account)
    if pos.queued:
        if pos.tier != OVERFLOW:
            t = tier_of(pos.margin, abs(pos.open_notional))
            key = key_of(pos.size, pos.open_notional, scale)
            p, n = pos.prev, pos.next
            if (t == pos.tier and (p == ZERO or not ahead(is_long, key, get(p).key))
                    and (n == ZERO or not ahead(is_long, get(n).key, key))):
                pos.key = key
                pos.q_down = q_down_of(pos.margin, abs(pos.open_notional))
                if p == ZERO:
                    side.heads[t][1] = key
                return
            if hint == ZERO:
                hint = p
        _unlink(side, get, pos)
    insert(side, get, account, is_long, ZERO if hint == account else hint, scale)


def to_overflow(side: Side, get, account: str) -> None:
    pos = get(account)
    if pos.queued:
        if pos.tier == OVERFLOW:
            return
        _unlink(side, get, pos)
    _link(side, get, account, pos, OVERFLOW, ZERO, side.head(OVERFLOW)[0])
