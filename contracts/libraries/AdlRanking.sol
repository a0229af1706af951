// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PerpMath} from "./PerpMath.sol";

/// @title AdlRanking
/// @notice The ADL queue order, shared by the protocol (which enforces it) and the lens (which shows it).
///         `Score = PnL% x Effective Leverage = (u / N) x (N / E) = u / E`; higher first, then the larger
///         position, then the older one (smaller opening sequence). Only positions with u > 0 are eligible.
library AdlRanking {
    /// @notice A ranked position.
    struct Candidate {
        address account;
        uint256 score;
        uint256 absSize;
        uint64 openSeq;
    }

    /// @notice Score (WAD) of a position with unrealized PnL `u > 0` and margin `margin`: u / (margin + u),
    ///         rounded down.
    function score(uint256 u, uint256 margin) internal pure returns (uint256) {
        return u * PerpMath.WAD / (margin + u); // u, margin < 2**128: no overflow
    }

    /// @notice Whether `a` is deleveraged before `b`.
    function ranksBefore(Candidate memory a, Candidate memory b) internal pure returns (bool) {
        if (a.score != b.score) return a.score > b.score;
        if (a.absSize != b.absSize) return a.absSize > b.absSize;
        return a.openSeq < b.openSeq;
    }

    /// @notice Selection step: moves the best of `list[r..count)` to `list[r]` and returns it.
    function selectNext(Candidate[] memory list, uint256 r, uint256 count) internal pure returns (Candidate memory) {
        uint256 best = r;
        for (uint256 i = r + 1; i < count; ++i) {
            if (ranksBefore(list[i], list[best])) best = i;
        }
        if (best != r) (list[r], list[best]) = (list[best], list[r]);
        return list[r];
    }

    /// @notice The candidate ranked `r` (0-based) once `list[0..r)` hold the first `r`: a linear selection for the
    ///         first pick (one pass), then a binary heap over the rest, built once (O(N)) and popped in O(log N)
    ///         per further pick, so k fills cost O(N + k log N) comparisons instead of O(k N).
    function next(Candidate[] memory list, uint256 r, uint256 count) internal pure returns (Candidate memory) {
        if (r == 0) return selectNext(list, 0, count);
        uint256 n = count - r; // heap list[1 .. 1 + n) after r - 1 pops
        if (r == 1) {
            for (uint256 i = n / 2; i > 0; --i) {
                _siftDown(list, 1, i - 1, n);
            }
        }
        Candidate memory top = list[1];
        list[1] = list[n];
        _siftDown(list, 1, 0, n - 1);
        return top;
    }

    /// @dev Restores the heap property below node `i` of the heap stored at `list[base .. base + n)`.
    function _siftDown(Candidate[] memory list, uint256 base, uint256 i, uint256 n) private pure {
        while (true) {
            uint256 best = 2 * i + 1;
            if (best >= n) return;
            if (best + 1 < n && ranksBefore(list[base + best + 1], list[base + best])) ++best;
            if (!ranksBefore(list[base + best], list[base + i])) return;
            (list[base + i], list[base + best]) = (list[base + best], list[base + i]);
            i = best;
        }
    }

    /// @notice Queue lights, 1..5 by percentile of `rank` (1-based) among `count` eligible (5 = front).
    function lights(uint256 rank, uint256 count) internal pure returns (uint8) {
        return uint8(5 - ((rank - 1) * 5) / count);
    }
}
