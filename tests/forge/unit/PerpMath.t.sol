// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {TestBase, bound} from "../utils/TestBase.sol";
import {PerpMath} from "../../../contracts/libraries/PerpMath.sol";
import {AdlRanking} from "../../../contracts/libraries/AdlRanking.sol";

/// @title Wide
/// @notice The reference for every rounding helper: a 512-bit product compared with the result times the
///         divisor, so "rounded down" is checked as `r * c <= a * b < (r + 1) * c` and "rounded up" as
///         `(r - 1) * c < a * b <= r * c`, exactly, whatever the helper computes internally.
library Wide {
    function lt(uint256 ah, uint256 al, uint256 bh, uint256 bl) internal pure returns (bool) {
        return ah < bh || (ah == bh && al < bl);
    }

    function le(uint256 ah, uint256 al, uint256 bh, uint256 bl) internal pure returns (bool) {
        return ah < bh || (ah == bh && al <= bl);
    }

    /// @notice Whether r == floor(a * b / c).
    function isFloor(uint256 r, uint256 a, uint256 b, uint256 c) internal pure returns (bool) {
        (uint256 ph, uint256 pl) = Math.mul512(a, b);
        (uint256 lh, uint256 ll) = Math.mul512(r, c);
        (uint256 hh, uint256 hl) = Math.mul512(r + 1, c);
        return le(lh, ll, ph, pl) && lt(ph, pl, hh, hl);
    }

    /// @notice Whether r == ceil(a * b / c).
    function isCeil(uint256 r, uint256 a, uint256 b, uint256 c) internal pure returns (bool) {
        (uint256 ph, uint256 pl) = Math.mul512(a, b);
        (uint256 hh, uint256 hl) = Math.mul512(r, c);
        if (r == 0) return ph == 0 && pl == 0;
        (uint256 lh, uint256 ll) = Math.mul512(r - 1, c);
        return lt(lh, ll, ph, pl) && le(ph, pl, hh, hl);
    }
}

/// @notice Exposes the library's internal functions so the fuzzer calls the code the protocol runs.
contract PerpMathHarness {
    function notionalDown(uint256 s, uint256 p, uint256 scale) external pure returns (uint256) {
        return PerpMath.notionalDown(s, p, scale);
    }

    function notionalUp(uint256 s, uint256 p, uint256 scale) external pure returns (uint256) {
        return PerpMath.notionalUp(s, p, scale);
    }

    function unrealizedPnl(int256 size, int256 on, uint256 p, uint256 scale) external pure returns (int256) {
        return PerpMath.unrealizedPnl(size, on, p, scale);
    }

    function bankruptcyNotional(int256 size, int256 on, uint256 margin) external pure returns (uint256) {
        return PerpMath.bankruptcyNotional(size, on, margin);
    }

    function drawdown(int256 hwm, int256 equity) external pure returns (uint256) {
        return PerpMath.drawdown(hwm, equity);
    }

    function bpsUp(uint256 x, uint256 bps) external pure returns (uint256) {
        return PerpMath.bpsUp(x, bps);
    }

    function bpsDown(uint256 x, uint256 bps) external pure returns (uint256) {
        return PerpMath.bpsDown(x, bps);
    }

    function wadMulUp(uint256 x, uint256 r) external pure returns (uint256) {
        return PerpMath.wadMulUp(x, r);
    }

    function wadDivUp(uint256 x, uint256 y) external pure returns (uint256) {
        return PerpMath.wadDivUp(x, y);
    }

    function wadDivDown(uint256 x, uint256 y) external pure returns (uint256) {
        return PerpMath.wadDivDown(x, y);
    }

    function mulDivSignedCeil(int256 a, uint256 b, uint256 c) external pure returns (int256) {
        return PerpMath.mulDivSignedCeil(a, b, c);
    }

    function priceOf(uint256 amount, uint256 absSize, uint256 scale) external pure returns (uint256) {
        return PerpMath.priceOf(amount, absSize, scale);
    }
}

/// @title PerpMathTest
/// @notice Every rounding helper of `PerpMath` against the wide-integer reference, in both directions, over the
///         domain the protocol uses (sizes below 2^127, prices below 2^128, collateral of 0 to 18 decimals), with
///         the edges (0, 1, the domain maxima, 0 and 18 decimals) pinned by their own tests.
contract PerpMathTest is TestBase {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant MAX_SIZE = uint256(uint128(type(int128).max));
    uint256 internal constant MAX_PRICE = type(uint128).max;
    PerpMathHarness internal m = new PerpMathHarness();

    function _scale(uint8 decimalsSeed) internal pure returns (uint256) {
        return 10 ** (18 - bound(decimalsSeed, 0, 18));
    }

    // ------------------------------------------------------------------ notional (size x price)

    function testFuzz_notional_rounds_down_and_up(uint256 s, uint256 p, uint8 dec) public view {
        s = bound(s, 0, MAX_SIZE);
        p = bound(p, 0, MAX_PRICE);
        uint256 scale = _scale(dec);
        assertTrue(Wide.isFloor(m.notionalDown(s, p, scale), s, p, WAD * scale), "notionalDown is floor(s * p / (WAD * scale))");
        assertTrue(Wide.isCeil(m.notionalUp(s, p, scale), s, p, WAD * scale), "notionalUp is ceil(s * p / (WAD * scale))");
    }

    function test_notional_edges() public view {
        assertEq(m.notionalDown(0, MAX_PRICE, 1), 0, "zero size");
        assertEq(m.notionalUp(0, MAX_PRICE, 1), 0, "zero size up");
        assertEq(m.notionalDown(1, 1, 1), 0, "1 wei at 1 wei, down");
        assertEq(m.notionalUp(1, 1, 1), 1, "1 wei at 1 wei, up");
        assertEq(m.notionalDown(1, 1, 1e18), 0, "0 decimals, down");
        assertEq(m.notionalUp(1, 1, 1e18), 1, "0 decimals, up");
        assertTrue(Wide.isFloor(m.notionalDown(MAX_SIZE, MAX_PRICE, 1), MAX_SIZE, MAX_PRICE, WAD), "maxima, down");
        assertTrue(Wide.isCeil(m.notionalUp(MAX_SIZE, MAX_PRICE, 1e18), MAX_SIZE, MAX_PRICE, WAD * 1e18), "maxima, up");
    }

    // ------------------------------------------------------------------ valuation against the holder

    /// @notice uPnL = floor(long value) - cost, or -ceil(short debt) - cost: never above the exact value, and
    ///         less than one unit below it.
    function testFuzz_unrealizedPnl_rounds_against_the_holder(uint256 s, int256 on, uint256 p, uint8 dec, bool isLong)
        public
        view
    {
        s = bound(s, 0, MAX_SIZE);
        p = bound(p, 0, MAX_PRICE);
        on = int256(bound(uint256(on), 0, type(uint128).max));
        uint256 scale = _scale(dec);
        int256 size = isLong ? int256(s) : -int256(s);
        int256 signedOn = isLong ? on : -on;
        int256 u = m.unrealizedPnl(size, signedOn, p, scale);
        // exact value times D: size * p - on * D; u * D must be within (exact - D, exact]
        int256 d = int256(WAD * scale);
        int256 exactD = size * int256(p) - signedOn * d;
        assertTrue(u * d <= exactD, "uPnL is not above the exact value");
        assertTrue(u * d > exactD - d, "uPnL is less than one unit below the exact value");
    }

    function testFuzz_bankruptcyNotional(int256 on, uint256 margin, bool isLong) public view {
        on = int256(bound(uint256(on), 0, type(uint128).max));
        margin = bound(margin, 0, type(uint128).max);
        int256 size = isLong ? int256(1) : int256(-1);
        int256 signedOn = isLong ? on : -on;
        uint256 nb = m.bankruptcyNotional(size, signedOn, margin);
        int256 expected = isLong ? on - int256(margin) : int256(margin) + on;
        if (isLong) assertEq(nb, expected > 0 ? uint256(expected) : 0, "long: cost - margin, floored at 0");
        else assertEq(nb, uint256(expected), "short: proceeds + margin");
    }

    // ------------------------------------------------------------------ ratios

    function testFuzz_bps(uint256 x, uint256 bps) public view {
        x = bound(x, 0, type(uint128).max);
        bps = bound(bps, 0, 10_000);
        assertTrue(Wide.isCeil(m.bpsUp(x, bps), x, bps, 10_000), "bpsUp is ceil");
        assertTrue(Wide.isFloor(m.bpsDown(x, bps), x, bps, 10_000), "bpsDown is floor");
    }

    function testFuzz_wad(uint256 x, uint256 y) public view {
        x = bound(x, 0, type(uint128).max);
        y = bound(y, 1, type(uint128).max);
        assertTrue(Wide.isCeil(m.wadMulUp(x, y), x, y, WAD), "wadMulUp is ceil");
        assertTrue(Wide.isCeil(m.wadDivUp(x, y), x, WAD, y), "wadDivUp is ceil");
        assertTrue(Wide.isFloor(m.wadDivDown(x, y), x, WAD, y), "wadDivDown is floor");
    }

    function testFuzz_priceOf_rounds_down(uint256 amount, uint256 s, uint8 dec) public view {
        amount = bound(amount, 0, type(uint128).max);
        s = bound(s, 1, MAX_SIZE);
        uint256 scale = _scale(dec);
        assertTrue(Wide.isFloor(m.priceOf(amount, s, scale), amount, WAD * scale, s), "priceOf is floor");
    }

    /// @notice a * b / c rounded toward +infinity: up for a >= 0, toward zero (so up) for a < 0. The protocol's
    ///         domain: a share b / c <= 1 of a cost basis a (the released part of a reduced position).
    function testFuzz_mulDivSignedCeil(int256 a, uint256 b, uint256 c) public view {
        a = int256(bound(uint256(a), 0, type(uint128).max)) * (a < 0 ? int256(-1) : int256(1));
        c = bound(c, 1, type(uint128).max);
        b = bound(b, 0, c);
        int256 r = m.mulDivSignedCeil(a, b, c);
        if (a >= 0) {
            assertTrue(r >= 0 && Wide.isCeil(uint256(r), uint256(a), b, c), "non-negative: ceil");
        } else {
            assertTrue(r <= 0 && Wide.isFloor(uint256(-r), uint256(-a), b, c), "negative: toward zero");
        }
    }

    function test_ratio_edges() public view {
        assertEq(m.bpsUp(1, 1), 1, "1 unit at 1 bp rounds up to 1");
        assertEq(m.bpsDown(1, 9_999), 0, "1 unit at 9,999 bp rounds down to 0");
        assertEq(m.wadMulUp(1, 1), 1, "1 x 1e-18 rounds up to 1");
        assertEq(m.wadDivDown(1, type(uint128).max), 0, "1 / max rounds down to 0");
        assertEq(m.wadDivUp(1, type(uint128).max), 1, "1 / max rounds up to 1");
        assertEq(m.mulDivSignedCeil(-1, 1, 2), 0, "-1/2 toward +infinity is 0");
        assertEq(m.mulDivSignedCeil(1, 1, 2), 1, "1/2 toward +infinity is 1");
        assertEq(m.priceOf(1, 1, 1e18), 1e36, "1 unit per wei of size, 0 decimals");
    }

    // ------------------------------------------------------------------ drawdown

    function testFuzz_drawdown(int256 hwm, int256 equity) public view {
        hwm = int256(bound(uint256(hwm), 0, type(uint128).max));
        equity = int256(bound(uint256(equity), 0, 2 * uint256(type(uint128).max))) - int256(uint256(type(uint128).max));
        uint256 dd = m.drawdown(hwm, equity);
        if (hwm <= 0 || equity >= hwm) {
            assertEq(dd, 0, "no drawdown at or above the mark");
        } else {
            assertTrue(Wide.isFloor(dd, uint256(hwm - equity), WAD, uint256(hwm)), "drawdown is floor((hwm - equity) / hwm)");
        }
    }
}

/// @title AdlRankingMathTest
/// @notice `AdlRanking.uTimesD` runs unchecked: for every value the protocol can store or price it accepts (size,
///         cost basis and index int128, snapshot int104, price up to PerpBase.MAX_PRICE, D = 1e18 * 10^(18 - decimals))
///         it equals the checked expression, which never overflows there, extremes included.
contract AdlRankingMathTest is TestBase {
    function _checked(int256 size, int256 on, uint256 price, uint256 d, int256 index, int256 snapshot)
        internal
        pure
        returns (int256)
    {
        int256 absSize = size >= 0 ? size : -size;
        return size * int256(price) - on * int256(d) - absSize * (index - snapshot);
    }

    function testFuzz_uTimesD_is_the_checked_expression(
        int128 size,
        int128 on,
        uint256 price,
        uint8 dec,
        int128 index,
        int104 snapshot
    ) public pure {
        price = bound(price, 0, 2 ** 95);
        uint256 d = 1e18 * 10 ** (18 - bound(dec, 0, 18));
        assertEq(AdlRanking.uTimesD(size, on, price, d, index, snapshot), _checked(size, on, price, d, index, snapshot), "uD");
    }

    function test_uTimesD_extremes() public pure {
        int256[2] memory sizes = [int256(type(int128).max), int256(type(int128).min)];
        int256[2] memory ons = [int256(type(int128).max), int256(type(int128).min)];
        int256[2] memory indices = [int256(type(int128).max), int256(type(int128).min)];
        int256[2] memory snaps = [int256(type(int104).max), int256(type(int104).min)];
        for (uint256 a; a < 2; ++a) for (uint256 b; b < 2; ++b) for (uint256 c; c < 2; ++c) for (uint256 k; k < 2; ++k) {
            int256 want = _checked(sizes[a], ons[b], 2 ** 95, 1e36, indices[c], snaps[k]);
            assertEq(AdlRanking.uTimesD(sizes[a], ons[b], 2 ** 95, 1e36, indices[c], snaps[k]), want, "uD at the extremes");
        }
    }
}
