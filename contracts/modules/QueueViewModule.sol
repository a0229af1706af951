// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Position} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {IPerpetualAdmin} from "../../interfaces/IPerpetual.sol";
import {AdlQueue} from "../libraries/AdlQueue.sol";

/// @title QueueViewModule
/// @notice Reads of the ADL queue for the lens, the audit and keepers: which tiers hold positions, each tier's
///         head, the overflow list, and every open position of a side page by page.
abstract contract QueueViewModule is PerpBase, IPerpetualAdmin {
    /// @inheritdoc IPerpetualAdmin
    function queueSide(uint256 marketId, bool isLong) external view returns (uint256 bitmap, address[] memory overflow) {
        AdlQueue.Side storage side = _queues[marketId][isLong];
        return (side.bitmap, side.overflow);
    }

    /// @inheritdoc IPerpetualAdmin
    function queueTier(uint256 marketId, bool isLong, uint256 tier) external view returns (address head, uint96 headKey) {
        AdlQueue.Tier storage t = _queues[marketId][isLong].tiers[tier];
        return (t.head, t.headKey);
    }

    /// @inheritdoc IPerpetualAdmin
    function sidePositions(uint256 marketId, bool isLong, address after_, uint256 count)
        external
        view
        returns (address[] memory accounts, Position[] memory positions, address next)
    {
        AdlQueue.Side storage side = _queues[marketId][isLong];
        mapping(address => Position) storage book = _positions[marketId];
        address a = after_ == address(0) ? _first(side) : _after(side, book, after_);
        uint256 n = 0;
        for (address x = a; x != address(0) && n < count; x = _after(side, book, x)) {
            ++n;
        }
        accounts = new address[](n);
        positions = new Position[](n);
        for (uint256 i; i < n; ++i) {
            accounts[i] = a;
            positions[i] = book[a];
            a = _after(side, book, a);
        }
        next = a;
    }

    /// @dev The first account of the walk order: the overflow list, then the tiers.
    function _first(AdlQueue.Side storage side) private view returns (address) {
        return side.overflow.length != 0 ? side.overflow[0] : _firstTier(side, 0);
    }

    function _after(AdlQueue.Side storage side, mapping(address => Position) storage book, address a)
        private
        view
        returns (address)
    {
        Position storage pos = book[a];
        if (pos.overflowIndex != 0) {
            uint256 i = pos.overflowIndex; // 1-based: the next entry's index
            return i < side.overflow.length ? side.overflow[i] : _firstTier(side, 0);
        }
        if (!pos.queued) revert NoPosition(0, a);
        if (pos.next != address(0)) return pos.next;
        return pos.tier + 1 < AdlQueue.TIERS ? _firstTier(side, pos.tier + 1) : address(0);
    }

    /// @dev The head of the first non-empty tier from `fromTier` on (address(0) if none).
    function _firstTier(AdlQueue.Side storage side, uint256 fromTier) private view returns (address) {
        uint256 bitmap = side.bitmap >> fromTier;
        if (bitmap == 0) return address(0);
        uint256 t = fromTier;
        while (bitmap & 1 == 0) {
            bitmap >>= 1;
            ++t;
        }
        return side.tiers[t].head;
    }
}
