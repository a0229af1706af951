// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AggregatorV3Interface} from "../../interfaces/AggregatorV3Interface.sol";
import {FundingParams, MarketParams} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {IPerpetualAdmin} from "../../interfaces/IPerpetual.sol";
import {MarketParamsLib} from "../libraries/MarketParamsLib.sol";
import {AdlQueue} from "../libraries/AdlQueue.sol";

/// @title MarketModule
/// @notice Markets and their owner-set parameters, each checked against hard bounds; a pause per market.
abstract contract MarketModule is PerpBase, IPerpetualAdmin {
    /// @inheritdoc IPerpetualAdmin
    function createMarket(string calldata name, AggregatorV3Interface oracle, MarketParams calldata params)
        external
        onlyOwner
        returns (uint256 marketId)
    {
        MarketParamsLib.validate(params, collateralDecimals);
        uint8 oracleDecimals = MarketParamsLib.validateOracle(oracle);
        marketId = ++marketCount;
        Market storage mkt = _markets[marketId];
        mkt.oracle = oracle;
        mkt.oracleDecimals = oracleDecimals;
        mkt.listed = true;
        mkt.params = params;
        mkt.name = name;
        // The ADL queue's tiers measure margin per unit of size against a reference price: the mark at listing,
        // rounded down to a power of two (a market needs a usable price to be listed).
        uint256 refShift = Math.log2(_markPrice(marketId, mkt));
        mkt.refShift = uint8(refShift);
        for (uint256 side; side < 2; ++side) {
            AdlQueue.reserveOverflowHead(_queues[marketId][side == 0]); // the long side, then the short side
        }
        emit MarketCreated(marketId, name, address(oracle), params);
        emit ReferencePriceSet(marketId, 1 << refShift);
    }

    /// @inheritdoc IPerpetualAdmin
    function setMarketParams(uint256 marketId, MarketParams calldata params) external onlyOwner {
        Market storage mkt = _market(marketId);
        MarketParamsLib.validate(params, collateralDecimals);
        mkt.params = params;
        emit MarketParamsUpdated(marketId, params);
    }

    /// @inheritdoc IPerpetualAdmin
    /// @dev The funding until now accrues at the old rate first; the rate and its target are then clamped to the new
    ///      bound (to zero when funding is switched off), and the rate applies to the mark from now on.
    function setFundingParams(uint256 marketId, FundingParams calldata params) external onlyOwner {
        Market storage mkt = _market(marketId);
        MarketParamsLib.validateFunding(params);
        uint256 price = _markPrice(marketId, mkt);
        _accrueFunding(marketId, mkt, price);
        int256 cap = int256(uint256(params.maxRate));
        mkt.fundingRate = int64(_clamp(mkt.fundingRate, cap));
        mkt.fundingTarget = int64(_clamp(mkt.fundingTarget, cap));
        mkt.fundingPeriod = params.period;
        mkt.fundingMaxRate = params.maxRate;
        mkt.fundingMaxRateChange = params.maxRateChange;
        mkt.fundingLastAccrual = uint32(block.timestamp);
        mkt.fundingPrice = uint96(price);
        emit FundingParamsUpdated(marketId, params);
    }

    /// @inheritdoc IPerpetualAdmin
    function fundingState(uint256 marketId)
        external
        view
        returns (
            FundingParams memory params,
            int256 rate,
            int256 target,
            uint256 price,
            uint256 lastAccrual,
            int256 longIndexNow,
            int256 shortIndexNow
        )
    {
        Market storage mkt = _market(marketId);
        (int256 step,) = _fundingStep(mkt);
        params = FundingParams(mkt.fundingPeriod, mkt.fundingMaxRate, mkt.fundingMaxRateChange);
        return (
            params, mkt.fundingRate, mkt.fundingTarget, mkt.fundingPrice, mkt.fundingLastAccrual,
            mkt.longIndex + step, mkt.shortIndex - step
        );
    }

    function _clamp(int256 x, int256 cap) private pure returns (int256) {
        return x > cap ? cap : x < -cap ? -cap : x;
    }

    /// @inheritdoc IPerpetualAdmin
    function setOracle(uint256 marketId, AggregatorV3Interface oracle) external onlyOwner {
        Market storage mkt = _market(marketId);
        mkt.oracleDecimals = MarketParamsLib.validateOracle(oracle);
        mkt.oracle = oracle;
        emit OracleUpdated(marketId, address(oracle));
    }

    /// @inheritdoc IPerpetualAdmin
    /// @dev Adding margin, liquidation and ADL keep working, so that traders can still defend positions that
    ///      keepers can still liquidate.
    function setPaused(uint256 marketId, bool paused) external onlyOwner {
        _market(marketId).paused = paused;
        emit MarketPauseSet(marketId, paused);
    }
}
