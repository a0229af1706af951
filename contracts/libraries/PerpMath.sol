// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";

/// @title PerpMath
/// @notice Fixed-point helpers. WAD = 1e18. `scale` = 10**(18 - collateral decimals) converts WAD quote
///         amounts to collateral units. Every function names its rounding direction.
library PerpMath {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;

    /// @notice |size| * price in collateral units, rounded down.
    /// @dev Plain checked arithmetic (cheaper than a 512-bit mulDiv on the ADL scan's hot path): sizes are int128
    ///      and usable prices are capped at 2**128 by the oracle read, so the product stays below 2**256.
    function notionalDown(uint256 absSize, uint256 price, uint256 scale) internal pure returns (uint256) {
        return absSize * price / (WAD * scale);
    }

    /// @notice |size| * price in collateral units, rounded up.
    function notionalUp(uint256 absSize, uint256 price, uint256 scale) internal pure returns (uint256) {
        return Math.ceilDiv(absSize * price, WAD * scale);
    }

    /// @notice Value of a signed size at `price`, rounded against the holder (long down, short's debt up).
    function positionValue(int256 size, uint256 price, uint256 scale) internal pure returns (int256) {
        if (size >= 0) return int256(notionalDown(uint256(size), price, scale));
        return -int256(notionalUp(uint256(-size), price, scale));
    }

    /// @notice Unrealized PnL of a position (`size`, cost basis `openNotional`) at `price`, rounded against the holder.
    function unrealizedPnl(int256 size, int256 openNotional, uint256 price, uint256 scale)
        internal
        pure
        returns (int256)
    {
        return positionValue(size, price, scale) - openNotional;
    }

    /// @notice Collateral units for which closing the whole position leaves its holder exactly zero equity
    ///         (long sells for `openNotional - margin`, short buys back for `margin - openNotional`), floored at 0.
    function bankruptcyNotional(int256 size, int256 openNotional, uint256 margin) internal pure returns (uint256) {
        int256 n = size > 0 ? openNotional - int256(margin) : int256(margin) - openNotional;
        return n > 0 ? uint256(n) : 0;
    }

    /// @notice Drawdown (WAD) of `equity` below a positive high-water mark, rounded down; zero otherwise.
    function drawdown(int256 hwm, int256 equity) internal pure returns (uint256) {
        if (hwm <= 0 || equity >= hwm) return 0;
        return Math.mulDiv(uint256(hwm - equity), WAD, uint256(hwm));
    }

    /// @notice x * bps / 10_000, rounded up (fees and requirements are rounded against the account).
    function bpsUp(uint256 x, uint256 bps) internal pure returns (uint256) {
        return Math.mulDiv(x, bps, BPS, Math.Rounding.Ceil);
    }

    /// @notice x * bps / 10_000, rounded down (rewards paid to an account are rounded down).
    function bpsDown(uint256 x, uint256 bps) internal pure returns (uint256) {
        return Math.mulDiv(x, bps, BPS);
    }

    /// @notice x * ratio / WAD, rounded up.
    function wadMulUp(uint256 x, uint256 ratio) internal pure returns (uint256) {
        return Math.mulDiv(x, ratio, WAD, Math.Rounding.Ceil);
    }

    /// @notice x * WAD / y, rounded up.
    function wadDivUp(uint256 x, uint256 y) internal pure returns (uint256) {
        return Math.mulDiv(x, WAD, y, Math.Rounding.Ceil);
    }

    /// @notice x * WAD / y, rounded down.
    function wadDivDown(uint256 x, uint256 y) internal pure returns (uint256) {
        return Math.mulDiv(x, WAD, y);
    }

    /// @notice Signed `a * b / c` with |result| rounded toward +infinity (c > 0, b >= 0).
    function mulDivSignedCeil(int256 a, uint256 b, uint256 c) internal pure returns (int256) {
        if (a >= 0) return int256(Math.mulDiv(uint256(a), b, c, Math.Rounding.Ceil));
        return -int256(Math.mulDiv(uint256(-a), b, c));
    }

    /// @notice Price (WAD) of `amount` collateral units per `absSize`, rounded down.
    function priceOf(uint256 amount, uint256 absSize, uint256 scale) internal pure returns (uint256) {
        return Math.mulDiv(amount, WAD * scale, absSize);
    }

    function abs(int256 x) internal pure returns (uint256) {
        return SignedMath.abs(x);
    }

    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
