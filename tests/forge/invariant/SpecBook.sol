// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title SpecBook
/// @notice The ADL queue order written from SPEC.md section 6 alone, in exact arithmetic, so that the invariant
///         suite checks the contract's fills against an order it did not compute: eligible = opposite side with
///         u > 0 at mark; Score = PnL% x Effective Leverage = (u / N) x (N / E) = u / E, higher first; ties to
///         the larger position, then the older one. Nothing here uses the contract's ranking code or rounding:
///         u is the exact rational `s * (P - entry)`, scores are compared by cross-multiplication in 512 bits.
library SpecBook {
    struct Entry {
        address account;
        int256 size;
        int256 openNotional; // collateral units, signed cost basis (long > 0)
        uint256 margin;
        uint64 openSeq;
        // exact unrealized PnL at mark, times D = WAD * scale (an integer): s * P - openNotional * D
        int256 uD;
    }

    /// @notice u * D of a position at `price` (WAD), exactly: the PnL in collateral units times D = 1e18 * scale,
    ///         what it owes its side's index since its snapshot (per unit of size: `index - snapshot`) included.
    function uTimesD(int256 size, int256 openNotional, uint256 price, uint256 scale, int256 index, int256 snapshot)
        internal
        pure
        returns (int256)
    {
        int256 absSize = size >= 0 ? size : -size;
        return size * int256(price) - openNotional * int256(1e18 * scale) - absSize * (index - snapshot);
    }

    /// @notice Whether `a` ranks strictly before `b` (both eligible): exact score, then size, then age.
    function before(Entry memory a, Entry memory b, uint256 scale) internal pure returns (bool) {
        // score = uD / (margin * D + uD); a > b  <=>  uD_a * margin_b > uD_b * margin_a (positive terms)
        uint256 d = 1e18 * scale;
        (uint256 ah, uint256 al) = Math.mul512(uint256(a.uD), b.margin * d);
        (uint256 bh, uint256 bl) = Math.mul512(uint256(b.uD), a.margin * d);
        if (ah != bh) return ah > bh;
        if (al != bl) return al > bl;
        uint256 sa = a.size >= 0 ? uint256(a.size) : uint256(-a.size);
        uint256 sb = b.size >= 0 ? uint256(b.size) : uint256(-b.size);
        if (sa != sb) return sa > sb;
        return a.openSeq < b.openSeq;
    }

    /// @notice The eligible entries (uD > 0) of `book`, sorted into queue order (insertion sort: books are small).
    function queue(Entry[] memory book, uint256 scale) internal pure returns (Entry[] memory sorted) {
        uint256 n;
        for (uint256 i; i < book.length; ++i) {
            if (book[i].uD > 0) ++n;
        }
        sorted = new Entry[](n);
        uint256 k;
        for (uint256 i; i < book.length; ++i) {
            if (book[i].uD <= 0) continue;
            Entry memory e = book[i];
            uint256 j = k++;
            while (j > 0 && before(e, sorted[j - 1], scale)) {
                sorted[j] = sorted[j - 1];
                --j;
            }
            sorted[j] = e;
        }
    }

    /// @notice The most of the entry an ADL fill at `price` (WAD) may take: all of it when closing there realizes no
    ///         loss; otherwise the largest size whose realized loss (pro rata) its margin covers, less the two
    ///         collateral units a fill may lose to rounding (the piece's notional and the released cost basis; the
    ///         contracts keep them back, README "ADL"). Zero when the margin is two units or less.
    function capacityAt(Entry memory e, uint256 price, uint256 scale) internal pure returns (uint256) {
        uint256 size = e.size >= 0 ? uint256(e.size) : uint256(-e.size);
        int256 lossD = -uTimesD(e.size, e.openNotional, price, scale, 0, 0);
        if (lossD <= 0) return size;
        if (e.margin <= 2) return 0;
        return Math.min(size, Math.mulDiv((e.margin - 2) * 1e18 * scale, size, uint256(lossD)));
    }
}
