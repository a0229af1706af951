// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {IPerpetualAdmin} from "../../interfaces/IPerpetual.sol";

/// @title FundAccountModule
/// @notice The insurance fund's account outside liquidation and ADL: top-ups by anyone, a sample of its equity on
///         demand (`pokeFund`), and its stored state. (Its rules, refusal and distress: `InsuranceFundModule.sol`.)
abstract contract FundAccountModule is PerpBase, ReentrancyGuardTransient, IPerpetualAdmin {
    /// @inheritdoc IPerpetualAdmin
    function topUpFund(uint256 marketId, uint256 amount) external nonReentrant {
        Market storage mkt = _market(marketId);
        if (amount == 0) revert ZeroAmount();
        mkt.fundCash += int256(amount);
        emit FundToppedUp(marketId, msg.sender, amount);
        _emitFund(marketId, mkt);
        _pullCollateral(msg.sender, amount);
    }

    /// @inheritdoc IPerpetualAdmin
    function pokeFund(uint256 marketId) external nonReentrant {
        Market storage mkt = _market(marketId);
        _updateWatermark(marketId, mkt, _markPrice(marketId, mkt));
    }

    /// @inheritdoc IPerpetualAdmin
    function fundAccount(uint256 marketId)
        external
        view
        returns (
            int256 cash,
            int256 size,
            int256 openNotional,
            int256 highWaterMark,
            uint64 highWaterMarkTimestamp,
            bool distressed
        )
    {
        Market storage mkt = _market(marketId);
        (int256 hwm, uint256 hwmTime) = _highWaterMark(marketId, mkt);
        return (mkt.fundCash, mkt.fundSize, mkt.fundOpenNotional, hwm, uint64(hwmTime), mkt.fundDistressed);
    }
}
