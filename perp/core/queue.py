"""The ADL queue, mirroring ``contracts/libraries/AdlQueue.sol`` operation for operation (docs/design/adl-queue.md):
per market side, tiers of ``q = (margin per unit of size) / R`` (R the market's reference price, ``2**ref_shift``;
STEPS per octave between 2^-20 and 2^10, a bottom and a top tier), each a doubly linked list sorted by the key (the
entry in the side's index frame: ``e - snapshot`` long, ``e + snapshot`` short, biased; longs ascending, shorts
descending), an overflow list (index TIERS) for positions cut by ADL, and a bitmap of the lists in use. Pure Python:
the model, the replay and the audit use it.

The functions take ``get``, a callable from an account to its ``perp.core.Position`` (whose ``tier, queued, next,
key, prev`` fields are the list's nodes), exactly as the library takes the positions mapping.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import fail

STEP_BITS = 3  # AdlQueue.STEP_BITS: 2**STEP_BITS tiers per octave of q
STEPS = 1 << STEP_BITS
OCTAVES = 30
Q_BITS = 20 + STEP_BITS
TOP_TIER = 1 + STEPS * OCTAVES
TIERS = TOP_TIER + 1  # sorted tiers 0..TOP_TIER
OVERFLOW = TIERS  # the overflow list (unsorted; positions cut by ADL)
MAX_WALK = 128
KEY_SHIFT = 33  # keys are frame entries plus KEY_BIAS in units of 2^33 wei
KEY_BIAS = 2**96
Q_DOWN_BITS = 22  # a node's q_down is q in units of 2^-22, rounded down, capped at 2^32 - 1
UINT32_MAX = 2**32 - 1
ZERO = "0x0000000000000000000000000000000000000000"
UINT64_MAX = 2**64 - 1


def tier_of(margin: int, abs_size: int, ref_shift: int, scale: int) -> int:
    """The tier of a position: the largest t whose lower edge is at most q = margin * D / (|size| * 2^ref_shift)."""
    r = margin * ((10**18 * scale) << Q_BITS) // (abs_size << ref_shift)
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


def key_of(size: int, open_notional: int, snapshot: int, scale: int) -> int:
    """The frame entry (``e - snapshot`` long, ``e + snapshot`` short; the signed entry rounded long down, short up)
    plus KEY_BIAS, in units of 2^KEY_SHIFT, rounded the same way (``AdlQueue.keyOf``)."""
    is_long = size > 0
    num = (open_notional if is_long else -open_notional) * 10**18 * scale
    a = abs(size)
    entry = num // a if is_long else -(-num // a)
    biased = entry + (-snapshot if is_long else snapshot) + KEY_BIAS
    if biased < 0:
        fail("ValueOverflow", -biased)
    key = biased >> KEY_SHIFT if is_long else -(-biased >> KEY_SHIFT)
    if key > UINT64_MAX:
        fail("ValueOverflow", key)
    return key


def key_price(key: int) -> int:
    """The signed frame entry (WAD) a key stands for."""
    return (key << KEY_SHIFT) - KEY_BIAS


def q_down_of(margin: int, abs_size: int, ref_shift: int, scale: int) -> int:
    """q (see ``tier_of``) in units of 2^-Q_DOWN_BITS, rounded down, capped (AdlQueue.qDownOf)."""
    return min(margin * ((10**18 * scale) << Q_DOWN_BITS) // (abs_size << ref_shift), UINT32_MAX)


def place(pos, ref_shift: int, scale: int) -> tuple:
    """(tier, key, q_down) of a position as the queue would place it now."""
    a = abs(pos.size)
    return (tier_of(pos.margin, a, ref_shift, scale), key_of(pos.size, pos.open_notional, pos.index_snapshot, scale),
            q_down_of(pos.margin, a, ref_shift, scale))


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
        marked, bits = {t for t, h in self.heads.items() if h[0] != ZERO}, self.bitmap
        while bits:  # the set bits, lowest first
            low = bits & -bits
            marked.add(low.bit_length() - 1)
            bits ^= low
        return sorted(marked)

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
        side.heads[t] = [account, 0 if t == OVERFLOW else pos.key]  # the overflow list keeps no head key
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
            side.heads[pos.tier] = [n, 0 if pos.tier == OVERFLOW else get(n).key]
    else:
        get(p).next = n
    if n != ZERO:
        get(n).prev = p


def insert(side: Side, get, account: str, is_long: bool, hint: str, scale: int, ref_shift: int) -> None:
    pos = get(account)
    t, key, q_down = place(pos, ref_shift, scale)
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
    pos.q_down = q_down
    _link(side, get, account, pos, t, p, n)


def remove_closing(side: Side, get, account: str) -> None:
    """AdlQueue.removeClosing: a closing position out of its list. The contract leaves the position's own queue fields
    to the delete that follows; here they are cleared too, so that a caller that keeps the object sees it unqueued."""
    pos = get(account)
    if not pos.queued:
        return
    _unlink(side, get, pos)
    pos.queued, pos.prev, pos.next = False, ZERO, ZERO


def requeue(side: Side, get, account: str, is_long: bool, hint: str, scale: int, ref_shift: int) -> None:
    pos = get(account)
    if pos.queued:
        if pos.tier != OVERFLOW:
            t, key, q_down = place(pos, ref_shift, scale)
            p, n = pos.prev, pos.next
            if (t == pos.tier and (p == ZERO or not ahead(is_long, key, get(p).key))
                    and (n == ZERO or not ahead(is_long, get(n).key, key))):
                pos.key = key
                pos.q_down = q_down
                if p == ZERO:
                    side.heads[t][1] = key
                return
            if hint == ZERO:
                hint = p
        _unlink(side, get, pos)
    insert(side, get, account, is_long, ZERO if hint == account else hint, scale, ref_shift)


def to_overflow(side: Side, get, account: str) -> None:
    pos = get(account)
    if pos.queued:
        if pos.tier == OVERFLOW:
            return
        _unlink(side, get, pos)
    _link(side, get, account, pos, OVERFLOW, ZERO, side.head(OVERFLOW)[0])
