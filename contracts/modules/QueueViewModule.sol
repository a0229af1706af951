// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Position} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {IPerpetualAdmin} from "../../interfaces/IPerpetual.sol";
import {AdlQueue} from "../libraries/AdlQueue.sol";

/// @title QueueViewModule
/// @notice Reads of the ADL queue for the lens, the audit and keepers: which lists hold positions, each list's head,
///         the overflow list, and every open position of a side page by page.
abstract contract QueueViewModule is PerpBase, IPerpetualAdmin {
    /// @inheritdoc IPerpetualAdmin
    function queueSide(uint256 marketId, bool isLong) external view returns (uint256 bitmap, address[] memory overflow) {
        AdlQueue.Side storage side = _queues[marketId][isLong];
        mapping(address => Position) storage book = _positions[marketId];
        uint256 n = 0;
        for (address a = AdlQueue.head(side, AdlQueue.OVERFLOW); a != address(0); a = book[a].next) {
            ++n;
        }
        overflow = new address[](n);
        address x = AdlQueue.head(side, AdlQueue.OVERFLOW);
        for (uint256 i; i < n; ++i) {
            overflow[i] = x;
            x = book[x].next;
        }
        return (side.bitmap, overflow);
    }

    /// @inheritdoc IPerpetualAdmin
    function queueTier(uint256 marketId, bool isLong, uint256 tier) external view returns (address head, uint64 headKey) {
        AdlQueue.Side storage side = _queues[marketId][isLong];
        return (AdlQueue.head(side, tier), AdlQueue.headKey(side, tier));
    }

    /// @inheritdoc IPerpetualAdmin
    function sidePositions(uint256 marketId, bool isLong, address after_, uint256 count)
        external
        view
        returns (address[] memory accounts, Position[] memory positions, address next)
    {
        AdlQueue.Side storage side = _queues[marketId][isLong];
        mapping(address => Position) storage book = _positions[marketId];
        address a = after_ == address(0) ? _firstList(side, 0) : _after(side, book, after_);
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
        // the cursor for the following page: the last account returned (address(0) when the walk is done)
        next = a == address(0) ? address(0) : (n == 0 ? after_ : accounts[n - 1]);
    }

    /// @dev The account after `a` in the walk order (each list from its head, lists in index order, the overflow
    ///      list last).
    function _after(AdlQueue.Side storage side, mapping(address => Position) storage book, address a)
        private
        view
        returns (address)
    {
        Position storage pos = book[a];
        if (!pos.queued) revert NoPosition(0, a);
        if (pos.next != address(0)) return pos.next;
        return _firstList(side, pos.tier + 1);
    }

    /// @dev The head of the first non-empty list from `fromList` on (address(0) if none).
    function _firstList(AdlQueue.Side storage side, uint256 fromList) private view returns (address) {
        if (fromList > AdlQueue.OVERFLOW) return address(0);
        uint256 bitmap = side.bitmap >> fromList;
        if (bitmap == 0) return address(0);
        uint256 t = fromList;
        while (bitmap & 1 == 0) {
            bitmap >>= 1;
            ++t;
        }
        return AdlQueue.head(side, t);
    }
}
