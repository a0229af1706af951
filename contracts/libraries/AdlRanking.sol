// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PerpMath} from "./PerpMath.sol";

/// @title AdlRanking
/// @notice The ADL queue order, shared by the protocol (which enforces it) and the lens (which shows it).
///         `Score = PnL% x Effective Leverage = (u / N) x (N / E) = u / E`; higher first, then the larger
///         position, then the older one (smaller opening sequence). Only positions with u > 0 are eligible.
/// @dev Each candidate is one word, so that comparing two is a single `>`:
///      `score (bits 192..251) | min(|size|, 2^96 - 1) (96..191) | ~openSeq (32..95) | index (0..31)`.
///      The score is at most 1e18 < 2^60. Opening sequences are unique, so two keys never tie before the index
///      bits; sizes beyond 2^96 - 1 (7.9e10 contracts) rank as equal and fall through to age.
library AdlRanking {
    uint256 private constant SCORE_SHIFT = 192;
    uint256 private constant SIZE_SHIFT = 96;
    uint256 private constant SEQ_SHIFT = 32;
    uint256 private constant SIZE_CAP = 2 ** 96 - 1;
    uint256 private constant INDEX_MASK = 2 ** 32 - 1;

    /// @notice Score (WAD) of a position with unrealized PnL `u > 0` and margin `margin`: u / (margin + u),
    ///         rounded down.
    function score(uint256 u, uint256 margin) internal pure returns (uint256) {
        return u * PerpMath.WAD / (margin + u); // u, margin < 2**128: no overflow
    }

    /// @notice The ranking key of a position; a higher key is deleveraged first.
    function key(uint256 score_, uint256 absSize, uint64 openSeq, uint256 index) internal pure returns (uint256) {
        uint256 size = absSize < SIZE_CAP ? absSize : SIZE_CAP;
        return (score_ << SCORE_SHIFT) | (size << SIZE_SHIFT) | (uint256(type(uint64).max - openSeq) << SEQ_SHIFT)
            | index;
    }

    /// @notice The score stored in a key.
    function scoreOf(uint256 k) internal pure returns (uint256) {
        return k >> SCORE_SHIFT;
    }

    /// @notice The list index stored in a key.
    function indexOf(uint256 k) internal pure returns (uint256) {
        return k & INDEX_MASK;
    }

    /// @notice The key ranked `r` (0-based) once `keys[0..r)` hold the first `r`: a linear selection for the
    ///         first pick (one pass), then a binary heap over the rest, built once (O(N)) and popped in O(log N)
    ///         per further pick, so k fills cost O(N + k log N) comparisons instead of O(k N).
    function next(uint256[] memory keys, uint256 r, uint256 count) internal pure returns (uint256 top) {
        if (r == 0) {
            uint256 best;
            for (uint256 i = 1; i < count; ++i) {
                if (keys[i] > keys[best]) best = i;
            }
            top = keys[best];
            keys[best] = keys[0];
            keys[0] = top;
            return top;
        }
        uint256 n = count - r; // the heap is keys[1 .. 1 + n) after r - 1 pops
        if (r == 1) {
            for (uint256 i = n / 2; i > 0; --i) {
                _siftDown(keys, i - 1, n);
            }
        }
        top = keys[1];
        keys[1] = keys[n];
        _siftDown(keys, 0, n - 1);
    }

    /// @dev Restores the max-heap property below node `i` of the heap stored at `keys[1 .. 1 + n)`.
    function _siftDown(uint256[] memory keys, uint256 i, uint256 n) private pure {
        uint256 item = keys[1 + i];
        while (true) {
            uint256 child = 2 * i + 1;
            if (child >= n) break;
            uint256 c = keys[1 + child];
            if (child + 1 < n) {
                uint256 right = keys[2 + child];
                if (right > c) {
                    c = right;
                    ++child;
                }
            }
            if (c <= item) break;
            keys[1 + i] = c;
            i = child;
        }
        keys[1 + i] = item;
    }

    /// @notice Queue lights, 1..5 by percentile of `rank` (1-based) among `count` eligible (5 = front).
    function lights(uint256 rank, uint256 count) internal pure returns (uint8) {
        return uint8(5 - ((rank - 1) * 5) / count);
    }
}
