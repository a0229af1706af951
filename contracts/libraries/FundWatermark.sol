// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title FundWatermark
/// @notice The insurance fund's high-water mark as a true maximum over a sliding window: the largest of the fund's
///         equity samples taken in the last `window` seconds (a sample at time `t` counts while `t > now - window`).
///         Every trade, liquidation, Type 2 call and `pokeFund` takes a sample, before it acts.
/// @dev Exact, not conservative: a monotonic queue keeps every sample that can still be the maximum of some later
///      window (a sample is dropped only when a later one is at least as large, or when it leaves the window), so
///      its head is the maximum of the window. At most one sample per second is kept (a second sample in the same
///      second keeps the larger), so the live samples number at most `window + 1 <= CAPACITY`, and the queue lives in
///      a ring of `CAPACITY` slots that are reused. Both ends are found by binary search: a sample costs
///      O(log(samples in the window)) reads and one write, whatever came before it.
library FundWatermark {
    using SafeCast for int256;

    /// @notice Ring size: more than the longest window allowed (`MarketParamsLib.MAX_HWM_WINDOW`, 30 days) in seconds.
    uint256 internal constant CAPACITY = 1 << 22;
    uint256 private constant MASK = CAPACITY - 1;

    /// @notice Adds the sample (`now_`, `equity`) to the queue `[head, tail)` and drops those it dominates and those
    ///         that left the window; returns the queue's new ends and its head sample (the high-water mark).
    function sample(
        mapping(uint256 => uint256) storage ring,
        uint256 head,
        uint256 tail,
        uint256 now_,
        uint256 window,
        int256 equity
    ) internal returns (uint256 newHead, uint256 newTail, int256 hwm, uint256 hwmTime) {
        // Equities strictly decrease from head to tail: the first sample not larger than `equity` and every later
        // one are dominated by the new sample (it is later and at least as large).
        uint256 lo = head;
        uint256 hi = tail;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (equityOf(ring[mid & MASK]) <= equity) hi = mid;
            else lo = mid + 1;
        }
        if (lo > head && timeOf(ring[(lo - 1) & MASK]) == now_) {
            newTail = lo; // a larger sample from this same second already stands for this one
        } else {
            ring[lo & MASK] = (now_ << 192) | uint256(uint192(equity.toInt192()));
            newTail = lo + 1;
        }
        // Times increase from head to tail, and the last sample is from now: the first one inside the window.
        uint256 cutoff = now_ > window ? now_ - window : 0;
        lo = head;
        hi = newTail - 1;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (timeOf(ring[mid & MASK]) > cutoff) hi = mid;
            else lo = mid + 1;
        }
        newHead = lo;
        uint256 top = ring[newHead & MASK];
        return (newHead, newTail, equityOf(top), timeOf(top));
    }

    /// @notice The queue's head sample (the high-water mark and its time); (0, 0) before the first sample.
    function top(mapping(uint256 => uint256) storage ring, uint256 head, uint256 tail)
        internal
        view
        returns (int256 hwm, uint256 hwmTime)
    {
        if (head == tail) return (0, 0);
        uint256 packed = ring[head & MASK];
        return (equityOf(packed), timeOf(packed));
    }

    function equityOf(uint256 packed) internal pure returns (int256) {
        return int256(int192(uint192(packed)));
    }

    function timeOf(uint256 packed) internal pure returns (uint256) {
        return packed >> 192;
    }
}
