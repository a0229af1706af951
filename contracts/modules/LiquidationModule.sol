// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPerpetualRisk} from "../../interfaces/IPerpetual.sol";
import {Position, RefusalReason} from "../../interfaces/IPerpetualTypes.sol";
import {PerpMath} from "../libraries/PerpMath.sol";
import {AdlModule} from "./AdlModule.sol";

/// @title LiquidationModule
/// @notice Permissionless liquidation of positions below maintenance margin. Every liquidation pays its keeper a
///         bounded reward (a share of notional and a cap): out of the position's remaining equity, or out of the
///         fund's cash when the position has none. The position then goes to the insurance fund at its bankruptcy
///         price; if the fund refuses it, Type 1 ADL closes it against the ranked opposite positions: at that price
///         when it is bankrupt, at mark (its remaining equity to the fund) when it is not, and the fund takes what
///         they cannot.
abstract contract LiquidationModule is AdlModule {
    /// @inheritdoc IPerpetualRisk
    function liquidate(uint256 marketId, address account) external nonReentrant {
        Market storage mkt = _market(marketId);
        uint256 price = _markPrice(marketId, mkt);
        Position storage pos = _positions[marketId][account];
        if (pos.size == 0) revert NoPosition(marketId, account);
        _accrueFunding(marketId, mkt, price); // funding counts in the liquidation test
        if (!_liquidate(marketId, mkt, account, price)) {
            uint256 mm = PerpMath.wadMulUp(_notionalUp(pos.size, price), mkt.params.mmr);
            revert NotLiquidatable(marketId, account, _equity(mkt, pos, price), mm);
        }
    }

    /// @inheritdoc IPerpetualRisk
    function liquidateBatch(uint256 marketId, address[] calldata accounts)
        external
        nonReentrant
        returns (uint256 liquidated)
    {
        Market storage mkt = _market(marketId);
        uint256 price = _markPrice(marketId, mkt);
        _accrueFunding(marketId, mkt, price); // funding counts in the liquidation test
        for (uint256 i; i < accounts.length; ++i) {
            if (_positions[marketId][accounts[i]].size != 0 && _liquidate(marketId, mkt, accounts[i], price)) {
                ++liquidated;
            }
        }
    }

    /// @dev Liquidates `account` if its equity is below maintenance margin; returns whether it did.
    function _liquidate(uint256 marketId, Market storage mkt, address account, uint256 price) private returns (bool) {
        Position storage pos = _positions[marketId][account];
        int256 size = pos.size;
        int256 equity = _equity(mkt, pos, price); // what it owes its side's index counted (settled by the close)
        uint256 notional = _notionalUp(size, price);
        if (equity >= int256(PerpMath.wadMulUp(notional, mkt.params.mmr))) return false;

        _updateWatermark(marketId, mkt, price); // the fund's equity sampled before the liquidation acts

        // Keeper reward, bounded (a share of the notional rounded down, and a cap): out of the position's remaining
        // equity when it has any, else out of the fund's cash (never below zero): every liquidation pays its keeper.
        uint256 reward = PerpMath.min(
            PerpMath.bpsDown(PerpMath.notionalDown(PerpMath.abs(size), price, _scale), mkt.params.liquidationRewardBps),
            mkt.params.maxLiquidationReward
        );
        if (equity > 0) {
            reward = PerpMath.min(reward, PerpMath.min(uint256(equity), pos.margin));
            pos.margin -= uint96(reward);
        } else {
            int256 cash = mkt.fundCash;
            reward = cash > 0 ? PerpMath.min(reward, uint256(cash)) : 0;
            mkt.fundCash = cash - int256(reward);
        }
        if (reward != 0) _credit(msg.sender, reward);
        uint256 nb = _bankruptcyNotional(mkt, pos);
        emit Liquidated(
            marketId, account, msg.sender, size, price, PerpMath.priceOf(nb, PerpMath.abs(size), _scale), equity, reward
        );
        _bumpOrderEpoch(account); // the liquidated account's resting orders die with its position, as ADL's do

        RefusalReason reason = _fundRefusal(marketId, mkt, size, nb, price);
        if (reason == RefusalReason.None) {
            _fillTrader(marketId, account, -size, nb, 0, price);
            _fillFund(marketId, mkt, size, nb);
            emit FundAccepted(marketId, account, size, PerpMath.priceOf(nb, PerpMath.abs(size), _scale));
        } else {
            emit FundRefused(marketId, account, reason);
            _adlType1(marketId, mkt, account, size, nb, price, equity > 0);
        }
        _emitPosition(marketId, account);
        _emitFund(marketId, mkt);
        return true;
    }
}
