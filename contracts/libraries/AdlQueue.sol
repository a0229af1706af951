// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Position} from "../../interfaces/IPerpetualTypes.sol";
import {IPerpetualErrors} from "../../interfaces/IPerpetual.sol";

/// @title AdlQueue
/// @notice The data structure that lets ADL find the top of the queue without scanning the market (design note:
///         docs/design/adl-queue.md). The score of an isolated position is `u / E = x / (1 + x)` with `x = u / m`,
///         so ordering by `x` is ordering by score. With `q = m / |openNotional|` (margin per unit of cost basis,
///         one over the leverage at entry) and entry price `e`:
///
///             long:  x = (P / e - 1) / q        short:  x = (1 - P / e) / q
///
///         Positions with equal `q` never change order among themselves as the mark `P` moves: the lower entry
///         (long) or the higher entry (short) is always ahead. So each market side keeps its positions in tiers of
///         `q` (4 per octave, between 2^-12 and 4, plus a bottom and a top tier), each tier a doubly linked list
///         sorted by entry. Over a tier whose lower edge is `q_t`, every position at or after a node with entry
///         key `k` has `x <= (P / k - 1) / q_t` (long; `(1 - P / k) / q_t` short): an upper bound that lets the ADL
///         engine merge the tiers best-first and compute exact scores only for the few positions that can be next.
/// @dev The key is the entry price rounded towards the less profitable side (long: down, short: up), so the bound
///      holds for the node itself. Traders' fills re-sort a position with a caller hint (Liquity's SortedTroves
///      way: checked in O(1), walked for at most `MAX_WALK` steps when stale); an ADL cut, which has no hint, moves
///      the position to the side's overflow list, which the engine always examines, until anyone re-queues it.
library AdlQueue {
    /// @notice Number of tiers: 0 (q < 2^-12), 1 + 4 * octave + step for 2^-12 <= q < 4, and 57 (q >= 4).
    uint256 internal constant TIERS = 58;
    uint256 internal constant TOP_TIER = 57;
    /// @notice Most nodes an insertion walks from its hint (or the tier's head) before it reverts.
    uint256 internal constant MAX_WALK = 128;
    /// @notice Most positions waiting in a side's overflow list; an ADL cut that would exceed it is not made.
    uint256 internal constant MAX_OVERFLOW = 64;

    /// @notice The head of one tier: its first account and that account's key (read together in one slot).
    struct Tier {
        address head;
        uint96 headKey;
    }

    /// @notice One side (longs or shorts) of one market.
    struct Side {
        /// @dev bit t set while tier t holds a position
        uint256 bitmap;
        mapping(uint256 tier => Tier) tiers;
        /// @dev positions cut by ADL, waiting to be re-queued (examined in full by every ADL)
        address[] overflow;
    }

    // ------------------------------------------------------------------ tiers and keys

    /// @notice The tier of a position with `margin` and cost basis `absOpenNotional`: the largest t whose lower edge
    ///         `edge(t)` is at most `q = margin / absOpenNotional`.
    function tierOf(uint256 margin, uint256 absOpenNotional) internal pure returns (uint8) {
        if (absOpenNotional == 0) return uint8(TOP_TIER);
        // r = floor(q * 2^14): tier edges are q = (4 + step) * 2^octave / 2^14, so q >= edge <=> r >= (4 + step) << octave
        uint256 r = Math.mulDiv(margin, 1 << 14, absOpenNotional);
        if (r < 4) return 0;
        uint256 octave = Math.log2(r) - 2;
        if (octave >= 14) return uint8(TOP_TIER);
        return uint8(1 + 4 * octave + ((r >> octave) - 4));
    }

    /// @notice The lower edge of tier `t` (t >= 1) as the fraction `num / 2^14`; tier 0 has edge 0.
    function edgeNum(uint256 t) internal pure returns (uint256) {
        if (t == 0) return 0;
        if (t == TOP_TIER) return 4 << 14;
        return (4 + (t - 1) % 4) << ((t - 1) / 4);
    }

    /// @notice The entry key of a position: its entry price (WAD) rounded towards the less profitable side, so that
    ///         a long's key is at most its entry and a short's at least.
    function keyOf(int256 size, int256 openNotional, uint256 scale) internal pure returns (uint96) {
        uint256 absSize = size >= 0 ? uint256(size) : uint256(-size);
        uint256 absOn = openNotional >= 0 ? uint256(openNotional) : uint256(-openNotional);
        uint256 key = Math.mulDiv(absOn, 1e18 * scale, absSize, size > 0 ? Math.Rounding.Floor : Math.Rounding.Ceil);
        if (key > type(uint96).max) revert IPerpetualErrors.ValueOverflow(key);
        return uint96(key);
    }

    /// @notice Whether key `a` is ahead of key `b` on a side (longs: lower entry first; shorts: higher first).
    function ahead(bool isLong, uint256 a, uint256 b) internal pure returns (bool) {
        return isLong ? a < b : a > b;
    }

    // ------------------------------------------------------------------ list maintenance

    /// @notice Puts `account`'s open position into its tier at its key, after `hint` when that is the right place
    ///         (else it walks from the hint, or from the tier's head when the hint is not in the tier).
    function insert(Side storage side, mapping(address => Position) storage positions, address account, bool isLong, address hint, uint256 scale)
        internal
    {
        Position storage pos = positions[account];
        uint8 t = tierOf(pos.margin, _abs(pos.openNotional));
        uint96 key = keyOf(pos.size, pos.openNotional, scale);
        Tier storage tier = side.tiers[t];
        address p = _validHint(positions, hint, account, t);
        address n;
        uint256 steps = 0;
        if (p != address(0) && ahead(isLong, key, positions[p].key)) {
            // the hint is too far back: walk towards the head
            while (p != address(0) && ahead(isLong, key, positions[p].key)) {
                p = positions[p].prev;
                if (++steps > MAX_WALK) revert IPerpetualErrors.QueueHintTooFar(account, hint);
            }
        }
        n = p == address(0) ? tier.head : positions[p].next;
        while (n != address(0) && !ahead(isLong, key, positions[n].key)) {
            p = n;
            n = positions[n].next;
            if (++steps > MAX_WALK) revert IPerpetualErrors.QueueHintTooFar(account, hint);
        }
        pos.tier = t;
        pos.key = key;
        pos.queued = true;
        pos.prev = p;
        pos.next = n;
        if (p == address(0)) {
            if (n == address(0)) side.bitmap |= 1 << t;
            tier.head = account;
            tier.headKey = key;
        } else {
            positions[p].next = account;
        }
        if (n != address(0)) positions[n].prev = account;
    }

    /// @notice Takes `account`'s position out of its tier list or the overflow list (no effect if in neither).
    function remove(Side storage side, mapping(address => Position) storage positions, address account) internal {
        Position storage pos = positions[account];
        if (pos.queued) {
            address p = pos.prev;
            address n = pos.next;
            if (p == address(0)) {
                Tier storage tier = side.tiers[pos.tier];
                tier.head = n;
                tier.headKey = n == address(0) ? 0 : positions[n].key;
                if (n == address(0)) side.bitmap &= ~(uint256(1) << pos.tier);
            } else {
                positions[p].next = n;
            }
            if (n != address(0)) positions[n].prev = p;
            pos.queued = false;
            pos.prev = address(0);
            pos.next = address(0);
        } else if (pos.overflowIndex != 0) {
            address[] storage list = side.overflow;
            uint256 i = pos.overflowIndex - 1;
            address last = list[list.length - 1];
            if (last != account) {
                list[i] = last;
                positions[last].overflowIndex = uint32(i + 1);
            }
            list.pop();
            pos.overflowIndex = 0;
        }
    }

    /// @notice Re-sorts a changed position (or queues a new one): stays in place when its tier is unchanged and its
    ///         new key still lies between its neighbours (no writes but the key), else moves after `hint`.
    function requeue(Side storage side, mapping(address => Position) storage positions, address account, bool isLong, address hint, uint256 scale)
        internal
    {
        Position storage pos = positions[account];
        if (pos.queued) {
            uint8 t = tierOf(pos.margin, _abs(pos.openNotional));
            uint96 key = keyOf(pos.size, pos.openNotional, scale);
            address p = pos.prev;
            address n = pos.next;
            if (
                t == pos.tier && (p == address(0) || !ahead(isLong, key, positions[p].key))
                    && (n == address(0) || !ahead(isLong, positions[n].key, key))
            ) {
                if (key != pos.key) {
                    pos.key = key;
                    if (p == address(0)) side.tiers[t].headKey = key;
                }
                return;
            }
            if (hint == address(0)) hint = p; // the old neighbour is the likeliest place
        }
        remove(side, positions, account);
        insert(side, positions, account, isLong, hint == account ? address(0) : hint, scale);
    }

    /// @notice Moves a position cut by ADL out of its tier into the overflow list (its key and tier may have moved
    ///         and there is no hint); the ADL engine examines the overflow list in full every time.
    function toOverflow(Side storage side, mapping(address => Position) storage positions, address account) internal {
        Position storage pos = positions[account];
        if (pos.overflowIndex != 0) return;
        remove(side, positions, account);
        side.overflow.push(account);
        pos.overflowIndex = uint32(side.overflow.length);
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
