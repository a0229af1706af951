// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AggregatorV3Interface} from "../../interfaces/AggregatorV3Interface.sol";
import {MarketParams} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {IPerpetualAdmin} from "../../interfaces/IPerpetual.sol";
import {MarketParamsLib} from "../libraries/MarketParamsLib.sol";

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
