// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AdlQueue} from "./AdlQueue.sol";

/// @title AdlRanking
/// @notice The ADL queue order, shared by the protocol (which enforces it) and the lens (which shows it), computed
///         exactly: `Score = PnL% x Effective Leverage = (u / N) x (N / E) = u / E` with the exact unrealized PnL
///         `u` at mark (no rounding), the side's index payments since the position's snapshot included, higher first, then the larger position, then the older one (smaller opening
///         sequence). Eligible: `u > 0`. Scores are compared by cross-multiplication in 512 bits, so two positions
///         rank in the SPEC's order however close their scores are.
/// @dev `uD` is the unrealized PnL times `D = 1e18 * scale` (an integer: `size * P - openNotional * D -
///      |size| * (I - I_0)`, with I the side's index and I_0 the position's snapshot), and
///      `u / E = uD / (margin * D + uD)`, so `a` is ahead of `b` when `uD_a * margin_b > uD_b * margin_a`.
library AdlRanking {
    uint256 internal constant WAD = 1e18;

    /// @notice A position as the ranking sees it.
    struct Candidate {
        address account;
        uint256 uD;
        uint256 margin;
        uint256 absSize;
        uint64 openSeq;
        /// @dev u / margin in WAD, rounded down (saturating): compared with the tiers' bounds
        uint256 xDown;
    }

    /// @notice The exact unrealized PnL at `price` times D, counting what the position owes the side's index since
    ///         its snapshot (`index - snapshot` per unit of size); positive: eligible.
    /// @dev Unchecked (the engine computes it for every position it examines; checked, it cost about 1k gas a
    ///      call): for the values the protocol stores and prices it accepts it cannot overflow. `size`,
    ///      `openNotional` and `index` are int128, `snapshot` int104, `price` at most 2^95 (PerpBase.MAX_PRICE, every
    ///      mark) and `d` at most 1e36 (2^120): the three terms are below 2^222, 2^247 and 2^254 + 2^230, so the
    ///      result is below 2^255. Callers pass only such values.
    function uTimesD(int256 size, int256 openNotional, uint256 price, uint256 d, int256 index, int256 snapshot)
        internal
        pure
        returns (int256)
    {
        unchecked {
            int256 absSize = size >= 0 ? size : -size;
            return size * int256(price) - openNotional * int256(d) - absSize * (index - snapshot);
        }
    }

    /// @notice The side's frame price: the mark less the index per unit that a long pays, plus the one a short pays.
    function framePrice(bool isLong, uint256 price, int256 index) internal pure returns (int256) {
        return isLong ? int256(price) - index : int256(price) + index;
    }

    function candidate(address account, uint256 uD, uint256 margin, uint256 absSize, uint64 openSeq, uint256 d)
        internal
        pure
        returns (Candidate memory)
    {
        // x = uD / (margin * D) in WAD; a margin of zero (or a huge x) saturates. (The struct is built once, at the
        // end: a named return would allocate a zeroed one first, on every position the engine examines.)
        uint256 md = margin * d;
        uint256 xDown = md == 0 || uD / md >= type(uint256).max / WAD ? type(uint256).max : Math.mulDiv(uD, WAD, md);
        return Candidate(account, uD, margin, absSize, openSeq, xDown);
    }

    /// @notice Whether `a` ranks strictly ahead of `b` (both eligible).
    function ahead(Candidate memory a, Candidate memory b) internal pure returns (bool) {
        (uint256 ah, uint256 al) = Math.mul512(a.uD, b.margin);
        (uint256 bh, uint256 bl) = Math.mul512(b.uD, a.margin);
        if (ah != bh) return ah > bh;
        if (al != bl) return al > bl;
        if (a.absSize != b.absSize) return a.absSize > b.absSize;
        return a.openSeq < b.openSeq;
    }

    /// @notice Score (WAD) as events and the lens report it: u / E, rounded down.
    function score(uint256 uD, uint256 margin, uint256 d) internal pure returns (uint256) {
        return Math.mulDiv(uD, WAD, margin * d + uD);
    }

    /// @notice Upper bound (WAD, rounded up) of `x = u / m` over the positions at or after a node with key `key` in
    ///         tier `tier`, at frame price `fp` (`framePrice`), in a market of reference price 2^`refShift`: long
    ///         `(P' - k) / (q_t R)`, short `(k - P') / (q_t R)` with k the key's frame entry and q_t the tier's lower
    ///         edge. Zero when no such position can be eligible (the rest of the tier is at a loss); saturates for the
    ///         bottom tier and the overflow list (unsorted, stale keys).
    function bound(bool isLong, uint256 key, uint256 tier, int256 fp, uint256 refShift) internal pure returns (uint256) {
        if (tier == AdlQueue.OVERFLOW) return type(uint256).max;
        return _bound(isLong, key, AdlQueue.edgeNum(tier), AdlQueue.Q_BITS, fp, refShift);
    }

    /// @notice The same bound for one node of a sorted tier, from its own q (`qDown`, rounded down): nearly its x. The
    ///         node is given by its queue word as storage holds it (`Position`'s `next | key | qDown`: the key in bits
    ///         160-223, qDown in 224-255), which the engine has read anyway.
    function nodeBound(bool isLong, uint256 queueWord, int256 fp, uint256 refShift) internal pure returns (uint256) {
        return _bound(isLong, uint64(queueWord >> 160), queueWord >> 224, AdlQueue.Q_DOWN_BITS, fp, refShift);
    }

    /// @dev (P' - k) / (q R) (long) or (k - P') / (q R) (short) in WAD, rounded up, for q = qNum / 2^qBits.
    ///      In assembly: the engine bounds every tier at set-up and every node it passes, and the checked version
    ///      cost about 770 gas a call. Every usable gain is below 2^99 (frame price: a mark below 2^95 plus or
    ///      minus an index below 2^94; frame entry: a key below 2^64 times 2^KEY_SHIFT, less KEY_BIAS), so
    ///      `gain * (WAD << qBits)` (qBits <= Q_BITS: below 2^83) fits in a word and one division, rounded up, is
    ///      the exact result; a larger gain (impossible for stored values) saturates, which is still a bound.
    function _bound(bool isLong, uint256 key, uint256 qNum, uint256 qBits, int256 fp, uint256 refShift)
        private
        pure
        returns (uint256 b)
    {
        uint256 keyShift = AdlQueue.KEY_SHIFT;
        int256 keyBias = AdlQueue.KEY_BIAS;
        uint256 one = WAD << qBits; // per unit of gain (qBits <= Q_BITS: below 2^83)
        assembly ("memory-safe") {
            let k := sub(shl(keyShift, key), keyBias) // AdlQueue.keyPrice (key < 2^64: no overflow)
            let gain := sub(k, fp)
            if isLong { gain := sub(fp, k) }
            if sgt(gain, 0) {
                let den := shl(refShift, qNum)
                switch or(iszero(den), iszero(lt(gain, shl(128, 1))))
                case 1 { b := not(0) } // q = 0 (no bound), or a gain no stored value reaches
                default {
                    let x := mul(gain, one)
                    b := add(div(x, den), gt(mod(x, den), 0))
                }
            }
        }
    }

    /// @notice Queue lights, 1..5 by percentile of `rank` (1-based) among `count` eligible (5 = front).
    function lights(uint256 rank, uint256 count) internal pure returns (uint8) {
        return uint8(5 - ((rank - 1) * 5) / count);
    }
}
