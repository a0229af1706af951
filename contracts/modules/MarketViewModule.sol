// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarketParams, Position} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {IPerpetualAdmin} from "../../interfaces/IPerpetual.sol";

/// @title MarketViewModule
/// @notice Reads of markets and positions for the lens, the audit and keepers: the mark price, a market's
///         parameters, a stored position, a market's index state. (The ADL queue's reads: `QueueViewModule.sol`.)
abstract contract MarketViewModule is PerpBase, IPerpetualAdmin {

    /// @inheritdoc IPerpetualAdmin
    function markPrice(uint256 marketId) external view returns (uint256) {
        return _markPrice(marketId, _market(marketId));
    }

    /// @inheritdoc IPerpetualAdmin
    function marketInfo(uint256 marketId)
        external
        view
        returns (string memory name, address oracle, MarketParams memory params, bool paused)
    {
        Market storage mkt = _market(marketId);
        return (mkt.name, address(mkt.oracle), mkt.params, mkt.paused);
    }

    /// @inheritdoc IPerpetualAdmin
    function getPosition(uint256 marketId, address account) external view returns (Position memory) {
        return _positions[marketId][account];
    }

    /// @inheritdoc IPerpetualAdmin
    function marketIndex(uint256 marketId)
        external
        view
        returns (
            int256 longIndex,
            int256 shortIndex,
            uint256 openInterest,
            int256 indexBalance,
            int256 fundIndexSnapshot,
            uint256 referencePrice
        )
    {
        Market storage mkt = _market(marketId);
        return (
            mkt.longIndex, mkt.shortIndex, mkt.openInterest, mkt.indexBalance, mkt.fundIndexSnapshot, 1 << mkt.refShift
        );
    }
}
