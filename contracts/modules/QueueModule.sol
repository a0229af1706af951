// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IPerpetualCore} from "../../interfaces/IPerpetual.sol";
import {Position} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {AdlQueue} from "../libraries/AdlQueue.sol";

/// @title QueueModule
/// @notice The upkeep of the ADL queue that is not part of a trade: re-queueing a position that waits in the
///         overflow list after a partial ADL cut. (Reads of the queue: `modules/QueueViewModule.sol`.)
abstract contract QueueModule is PerpBase, ReentrancyGuardTransient, IPerpetualCore {
    /// @inheritdoc IPerpetualCore
    function requeue(uint256 marketId, address account, address hint) external nonReentrant {
        _market(marketId);
        Position storage pos = _positions[marketId][account];
        if (!pos.queued || pos.tier != AdlQueue.OVERFLOW) revert NotInOverflow(marketId, account);
        _requeue(marketId, account, hint);
        emit PositionRequeued(marketId, account);
    }
}
