// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Position} from "../../interfaces/IPerpetualTypes.sol";
import {IPerpetualErrors} from "../../interfaces/IPerpetual.sol";

/// @title AdlQueue
/// @notice The data structure that lets ADL find the top of the queue without scanning the market (design note:
///         docs/design/adl-queue.md). The score of an isolated position is `u / E = x / (1 + x)` with `x = u / m`,
///         so ordering by `x` is ordering by score. A position's value counts the side's cumulative index `I` (the
///         funding and socialized losses the side's holders pay per unit of size, `PerpBase._settleIndex`) since its
///         snapshot `I_0`. In the side's frame (frame price `P' = P - I` for longs, `P + I` for shorts; frame entry
///         `k = e - I_0` for a long, `e + I_0` for a short, with `e` the entry price of its cost basis) and with
///         `w = m / |size|` its margin per unit of size:
///
///             long:  x = (P' - k) / w        short:  x = (k - P') / w
///
///         Positions with equal `w` never change order among themselves as the mark or the index moves: the lower
///         frame entry (long) or the higher (short) is always ahead. So each market side keeps its positions in tiers
///         of `q = w / R` (R the market's reference price, a power of two fixed at listing; `STEPS` tiers per octave
///         between 2^-20 and 2^10, plus a bottom and a top tier), each tier a doubly linked list sorted by frame
///         entry. Over a tier whose lower edge is `q_t`, every position at or after a node with key `k` has
///         `x <= (P' - k) / (q_t R)` (long; `(k - P') / (q_t R)` short): an upper bound that lets the ADL engine merge
///         the tiers best-first and compute exact scores only for the few positions that can be next.
/// @dev The key is the frame entry plus `KEY_BIAS` in units of 2^KEY_SHIFT, rounded towards the less profitable side
///      (long: down, short: up), so the bound holds for the node itself; settling the index into the cost basis
///      (rounded against the holder) only moves the true frame entry further that way, so a stored key stays a
///      valid bound until the position is re-sorted. Traders' fills re-sort a position with a caller hint
///      (Liquity's SortedTroves way: checked in O(1), walked for at most `MAX_WALK` steps when stale). An ADL cut,
///      which has no hint, moves the position to the side's overflow list (one more list, `OVERFLOW`, unsorted,
///      linked like a tier), which the engine always examines in full, until anyone re-queues it.
library AdlQueue {
    /// @notice log2 of the tiers per octave of q (docs/design/adl-queue.md: measured for 2, 4 and 8 per octave).
    uint256 internal constant STEP_BITS = 3;
    uint256 internal constant STEPS = 1 << STEP_BITS;
    /// @notice Octaves of q covered by the graded tiers: 2^-20 <= q < 2^10 (at a mark equal to the reference price,
    ///         entry leverage 2^20 to 2^-10; the range leaves eight octaves of price move either way for 1x-4,096x).
    uint256 internal constant OCTAVES = 30;
    /// @dev q is measured as floor(q * 2^Q_BITS), so that every tier edge is an integer.
    uint256 internal constant Q_BITS = 20 + STEP_BITS;
    /// @notice Sorted tiers: 0 (q < 2^-20), 1 + STEPS * octave + step for 2^-20 <= q < 2^10, and TOP_TIER (q >= 2^10).
    uint256 internal constant TOP_TIER = 1 + STEPS * OCTAVES;
    uint256 internal constant TIERS = TOP_TIER + 1;
    /// @notice The overflow list's index among the side's lists (the bitmap's bit after the tiers').
    uint256 internal constant OVERFLOW = TIERS;
    /// @notice Most nodes an insertion walks from its hint (or the tier's head) before it reverts.
    uint256 internal constant MAX_WALK = 128;
    /// @notice Keys are frame entries plus KEY_BIAS (WAD) in units of 2^KEY_SHIFT wei, rounded towards the less
    ///         profitable side: every entry of a usable price and every index (|I| < 2^94) gives a key below 2^64.
    uint256 internal constant KEY_SHIFT = 33;
    int256 internal constant KEY_BIAS = 2 ** 96;
    /// @notice A node's `qDown` is q in units of 2^-Q_DOWN_BITS, rounded down (capped at 2^32 - 1).
    uint256 internal constant Q_DOWN_BITS = 22;
    /// @notice What `Side.heads` holds for a list that has been emptied (or reserved at listing): no account (its low
    ///         160 bits are zero), but not zero, so that the list's next head is a nonzero-to-nonzero write (2.9k
    ///         instead of 20k) rather than a fresh slot.
    uint256 internal constant EMPTY_HEAD = 1 << 160;

    /// @notice One side (longs or shorts) of one market.
    /// @dev The head keys are packed four to a slot (list t in word t / 4, lane t % 4), so that the ADL engine reads
    ///      the bounds of every tier in a handful of slots and loads a tier's head account only when it gets there.
    struct Side {
        /// @dev bit t set while list t (a tier, or the overflow list) holds a position
        uint256 bitmap;
        /// @dev the head account in the low 160 bits (`head`), EMPTY_HEAD once the list has been emptied
        mapping(uint256 list => uint256) heads;
        mapping(uint256 word => uint256) headKeys;
    }

    // ------------------------------------------------------------------ tiers and keys

    /// @notice The tier of a position with `margin` and size `absSize` in a market of reference price 2^`refShift`:
    ///         the largest t whose lower edge `edge(t)` is at most `q = margin * D / (absSize * R)` (D = 1e18 * scale:
    ///         the margin per unit of size as a WAD price, over R).
    function tierOf(uint256 margin, uint256 absSize, uint256 refShift, uint256 scale) internal pure returns (uint8) {
        // r = floor(q * 2^Q_BITS): tier edges are q = (STEPS + step) * 2^octave / 2^Q_BITS, so
        // q >= edge <=> r >= (STEPS + step) << octave
        uint256 r = Math.mulDiv(margin, (1e18 * scale) << Q_BITS, absSize << refShift);
        if (r < STEPS) return 0;
        uint256 octave = Math.log2(r) - STEP_BITS;
        if (octave >= OCTAVES) return uint8(TOP_TIER);
        return uint8(1 + STEPS * octave + ((r >> octave) - STEPS));
    }

    /// @notice The lower edge of tier `t` (t >= 1) as the fraction `num / 2^Q_BITS`; tier 0 (and the overflow list)
    ///         has edge 0: no bound.
    function edgeNum(uint256 t) internal pure returns (uint256) {
        if (t == 0 || t == OVERFLOW) return 0;
        if (t == TOP_TIER) return STEPS << OCTAVES;
        unchecked {
            // 1 <= t < TOP_TIER: step (t - 1) % STEPS of octave (t - 1) / STEPS
            return (STEPS + ((t - 1) & (STEPS - 1))) << ((t - 1) >> STEP_BITS);
        }
    }

    /// @notice The key of a position: its frame entry (`e - snapshot` long, `e + snapshot` short, WAD) plus KEY_BIAS,
    ///         in units of 2^KEY_SHIFT, rounded towards the less profitable side (long down, short up).
    function keyOf(int256 size, int256 openNotional, int256 snapshot, uint256 scale) internal pure returns (uint64) {
        bool isLong = size > 0;
        int256 absSize = isLong ? size : -size;
        // the entry of the cost basis (WAD, signed: index payments can take a cost basis past zero), rounded towards
        // the less profitable side: a long's down, a short's up
        int256 num = (isLong ? openNotional : -openNotional) * int256(1e18 * scale);
        int256 entry = num / absSize;
        if (isLong ? (num % absSize < 0) : (num % absSize > 0)) entry += isLong ? int256(-1) : int256(1);
        int256 biased = entry + (isLong ? -snapshot : snapshot) + KEY_BIAS;
        if (biased < 0) revert IPerpetualErrors.ValueOverflow(uint256(-biased));
        uint256 key = isLong ? uint256(biased) >> KEY_SHIFT : Math.ceilDiv(uint256(biased), 1 << KEY_SHIFT);
        if (key > type(uint64).max) revert IPerpetualErrors.ValueOverflow(key);
        return uint64(key);
    }

    /// @notice The frame entry (WAD, signed) that a key stands for.
    function keyPrice(uint256 key) internal pure returns (int256) {
        return int256(key << KEY_SHIFT) - KEY_BIAS;
    }

    /// @notice q (see `tierOf`) in units of 2^-Q_DOWN_BITS, rounded down and capped: never above q.
    function qDownOf(uint256 margin, uint256 absSize, uint256 refShift, uint256 scale) internal pure returns (uint32) {
        uint256 q = Math.mulDiv(margin, (1e18 * scale) << Q_DOWN_BITS, absSize << refShift);
        return q > type(uint32).max ? type(uint32).max : uint32(q);
    }

    /// @notice Whether key `a` is ahead of key `b` on a side (longs: lower entry first; shorts: higher first).
    function ahead(bool isLong, uint256 a, uint256 b) internal pure returns (bool) {
        return isLong ? a < b : a > b;
    }

    // ------------------------------------------------------------------ list maintenance

    /// @notice Puts `account`'s open position into its tier at its key, after `hint` when that is the right place
    ///         (else it walks from the hint, or from the tier's head when the hint is not in the tier). A position goes
    ///         before the nodes with an equal key, so that a run of equal keys (anyone's) costs a search nothing.
    function insert(Side storage side, mapping(address => Position) storage positions, address account, bool isLong, address hint, uint256 scale, uint256 refShift)
        internal
    {
        Position storage pos = positions[account];
        uint256 absSize = _abs(pos.size);
        uint8 t = tierOf(pos.margin, absSize, refShift, scale);
        uint64 key = keyOf(pos.size, pos.openNotional, pos.indexSnapshot, scale);
        address p = _validHint(positions, hint, account, t);
        uint256 steps = 0;
        if (p != address(0) && !ahead(isLong, positions[p].key, key)) {
            // the hint is not ahead of the key: walk towards the head
            while (p != address(0) && !ahead(isLong, positions[p].key, key)) {
                p = positions[p].prev;
                if (++steps > MAX_WALK) revert IPerpetualErrors.QueueHintTooFar(account, hint);
            }
        }
        address n = p == address(0) ? head(side, t) : positions[p].next;
        while (n != address(0) && ahead(isLong, positions[n].key, key)) {
            p = n;
            n = positions[n].next;
            if (++steps > MAX_WALK) revert IPerpetualErrors.QueueHintTooFar(account, hint);
        }
        pos.key = key;
        pos.qDown = qDownOf(pos.margin, absSize, refShift, scale);
        _link(side, positions, account, pos, t, p, n);
    }

    /// @notice Takes the position of `account`, which is being closed, out of the queue (no effect if it is not in
    ///         it). Its own queue fields (`queued`, `next`, `prev`) are left as they are: the caller deletes the
    ///         position next, and clearing them here first would cost three more slot reads and writes per close.
    function removeClosing(Side storage side, mapping(address => Position) storage positions, address account)
        internal
    {
        Position storage pos = positions[account];
        if (pos.queued) _unlink(side, positions, pos);
    }

    /// @notice Re-sorts a changed position (or queues a new one): stays in place when its tier is unchanged and its
    ///         new key still lies between its neighbours (no writes but its key and q), else moves after `hint` (or, with
    ///         no hint, searches from its old place).
    function requeue(Side storage side, mapping(address => Position) storage positions, address account, bool isLong, address hint, uint256 scale, uint256 refShift)
        internal
    {
        Position storage pos = positions[account];
        if (pos.queued) {
            if (pos.tier != OVERFLOW) {
                uint256 absSize = _abs(pos.size);
                uint8 t = tierOf(pos.margin, absSize, refShift, scale);
                uint64 key = keyOf(pos.size, pos.openNotional, pos.indexSnapshot, scale);
                address p = pos.prev;
                address n = pos.next;
                if (
                    t == pos.tier && (p == address(0) || !ahead(isLong, key, positions[p].key))
                        && (n == address(0) || !ahead(isLong, positions[n].key, key))
                ) {
                    pos.key = key; // (one slot with the node's q: written together)
                    pos.qDown = qDownOf(pos.margin, absSize, refShift, scale);
                    if (p == address(0)) _setHeadKey(side, t, key);
                    return;
                }
                if (hint == address(0)) hint = p; // the old neighbour is the likeliest place
            }
            // (its own links are overwritten by the insertion: clearing them first would turn two cheap rewrites
            // into two zero-to-nonzero writes)
            _unlink(side, positions, pos);
        }
        insert(side, positions, account, isLong, hint == account ? address(0) : hint, scale, refShift);
    }

    /// @notice Moves a position cut by ADL out of its tier to the head of the overflow list (its key and tier may
    ///         have moved and there is no hint); the ADL engine examines the overflow list in full every time.
    function toOverflow(Side storage side, mapping(address => Position) storage positions, address account) internal {
        Position storage pos = positions[account];
        if (pos.queued) {
            if (pos.tier == OVERFLOW) return;
            _unlink(side, positions, pos);
        }
        _link(side, positions, account, pos, uint8(OVERFLOW), address(0), head(side, OVERFLOW));
    }

    /// @notice Reserves the side's overflow list head slot at listing (EMPTY_HEAD): the first ADL cut that lands
    ///         there then writes it as cheaply as every later one.
    function reserveOverflowHead(Side storage side) internal {
        side.heads[OVERFLOW] = EMPTY_HEAD;
    }

    /// @notice The head account of list `t` (address(0) when the list is empty).
    function head(Side storage side, uint256 t) internal view returns (address) {
        return address(uint160(side.heads[t]));
    }

    /// @dev Links `account` into list `t` between `p` and `n` (p == address(0): at the head).
    function _link(
        Side storage side,
        mapping(address => Position) storage positions,
        address account,
        Position storage pos,
        uint8 t,
        address p,
        address n
    ) private {
        pos.tier = t;
        pos.queued = true;
        pos.prev = p;
        pos.next = n;
        if (p == address(0)) {
            if (n == address(0)) side.bitmap |= 1 << t;
            side.heads[t] = uint160(account);
            if (t != OVERFLOW) _setHeadKey(side, t, pos.key); // the overflow list's bound needs no key
        } else {
            positions[p].next = account;
        }
        if (n != address(0)) positions[n].prev = account;
    }

    /// @dev Links the neighbours of a queued position to each other.
    function _unlink(Side storage side, mapping(address => Position) storage positions, Position storage pos) private {
        address p = pos.prev;
        address n = pos.next;
        if (p == address(0)) {
            side.heads[pos.tier] = n == address(0) ? EMPTY_HEAD : uint160(n);
            if (pos.tier != OVERFLOW) _setHeadKey(side, pos.tier, n == address(0) ? 0 : positions[n].key);
            if (n == address(0)) side.bitmap &= ~(uint256(1) << pos.tier);
        } else {
            positions[p].next = n;
        }
        if (n != address(0)) positions[n].prev = p;
    }

    /// @notice The key of list `t`'s head (0 when the list is empty, and always for the overflow list: its bound is
    ///         unlimited whatever its keys, so its head key is not kept, which saves a cut position a slot write).
    function headKey(Side storage side, uint256 t) internal view returns (uint64) {
        return keyInWord(side.headKeys[headKeyWord(t)], t);
    }

    /// @notice Which word of `Side.headKeys` holds list `t`'s head key (four lists to a word, list t in lane t % 4).
    function headKeyWord(uint256 t) internal pure returns (uint256) {
        return t >> 2;
    }

    /// @notice The first list whose head key is in word `w` of `Side.headKeys`.
    function firstListOfWord(uint256 w) internal pure returns (uint256) {
        return w << 2;
    }

    /// @notice List `t`'s head key in `word`, its word of `Side.headKeys` (`headKeyWord(t)`).
    function keyInWord(uint256 word, uint256 t) internal pure returns (uint64) {
        return uint64(word >> ((t & 3) * 64));
    }

    function _setHeadKey(Side storage side, uint256 t, uint64 key) private {
        uint256 shift = (t & 3) * 64;
        uint256 word = side.headKeys[headKeyWord(t)];
        side.headKeys[headKeyWord(t)] = (word & ~(uint256(type(uint64).max) << shift)) | (uint256(key) << shift);
    }

    function _validHint(mapping(address => Position) storage positions, address hint, address account, uint8 t)
        private
        view
        returns (address)
    {
        if (hint == address(0) || hint == account) return address(0);
        Position storage h = positions[hint];
        return h.queued && h.tier == t ? hint : address(0);
    }

    function _abs(int256 x) private pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }
}
