// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPerpetualErrors} from "../../interfaces/IPerpetual.sol";
import {FundingParams, MarketParams} from "../../interfaces/IPerpetualTypes.sol";
import {AggregatorV3Interface} from "../../interfaces/AggregatorV3Interface.sol";
import {PerpMath} from "./PerpMath.sol";

/// @title MarketParamsLib
/// @notice The hard bounds every market parameter must respect, whoever sets it.
/// @dev An external library (linked at deployment) to keep the core contract under the 24 KiB code-size limit.
library MarketParamsLib {
    uint256 internal constant MAX_FEE_BPS = 100; // 1%
    uint256 internal constant MAX_BAND_BPS = 2_000; // 20%
    uint256 internal constant MAX_REWARD_BPS = 100; // 1% of notional
    uint256 internal constant MAX_ORACLE_AGE = 1 days;
    uint256 internal constant MIN_HWM_WINDOW = 1 minutes;
    uint256 internal constant MAX_HWM_WINDOW = 30 days;
    uint256 internal constant MIN_IMR = 1e15; // 0.1% (1000x)

    /// @notice The oracle's decimals, after checking it is a contract answering with at most 18 decimals.
    function validateOracle(AggregatorV3Interface oracle) external view returns (uint8 decimals) {
        if (address(oracle).code.length == 0) {
            revert IPerpetualErrors.InvalidParameter("oracle", uint256(uint160(address(oracle))));
        }
        decimals = oracle.decimals();
        if (decimals > 18) revert IPerpetualErrors.InvalidParameter("oracleDecimals", decimals);
    }

    uint256 internal constant MIN_FUNDING_PERIOD = 1 minutes;
    uint256 internal constant MAX_FUNDING_PERIOD = 30 days;
    uint256 internal constant MAX_FUNDING_RATE = 1e17; // 10% of notional per period
    uint256 internal constant MAX_FUNDING_RATE_CHANGE = 1e18; // 100% per period, per period

    /// @notice Reverts with `InvalidParameter(name, value)` for the first funding parameter outside its bounds:
    ///         `period` 0 (no funding, and then no bounds) or 1 minute .. 30 days; `maxRate` 1 .. 10% of notional per
    ///         period; `maxRateChange` 1 .. 100% per period.
    function validateFunding(FundingParams calldata p) external pure {
        if (p.period == 0) {
            if (p.maxRate != 0 || p.maxRateChange != 0) revert IPerpetualErrors.InvalidParameter("maxRate", p.maxRate);
            return;
        }
        if (p.period < MIN_FUNDING_PERIOD || p.period > MAX_FUNDING_PERIOD) {
            revert IPerpetualErrors.InvalidParameter("fundingPeriod", p.period);
        }
        if (p.maxRate == 0 || p.maxRate > MAX_FUNDING_RATE) revert IPerpetualErrors.InvalidParameter("maxRate", p.maxRate);
        if (p.maxRateChange == 0 || p.maxRateChange > MAX_FUNDING_RATE_CHANGE) {
            revert IPerpetualErrors.InvalidParameter("maxRateChange", p.maxRateChange);
        }
    }

    /// @notice Largest minimum position notional, in whole tokens (a larger one would stop all trading).
    uint256 internal constant MAX_MIN_POSITION_TOKENS = 1e9;
    /// @notice Largest minimum fill size (WAD): a billion units of the asset.
    uint256 internal constant MAX_MIN_FILL_SIZE = 1e27;

    /// @notice Reverts with `InvalidParameter(name, value)` for the first parameter outside its bounds
    ///         (`decimals`: the collateral's, for the bounds in token units).
    function validate(MarketParams calldata p, uint8 decimals) external pure {
        if (p.imr < MIN_IMR || p.imr > PerpMath.WAD) revert IPerpetualErrors.InvalidParameter("imr", p.imr);
        if (p.mmr == 0 || p.mmr >= p.mcr) revert IPerpetualErrors.InvalidParameter("mmr", p.mmr);
        if (p.mcr >= p.imr) revert IPerpetualErrors.InvalidParameter("mcr", p.mcr);
        // maxLeverage in [1x, 1/imr]: an order at max leverage posts at least the initial margin.
        if (p.maxLeverage < PerpMath.WAD || uint256(p.maxLeverage) * p.imr > PerpMath.WAD * PerpMath.WAD) {
            revert IPerpetualErrors.InvalidParameter("maxLeverage", p.maxLeverage);
        }
        if (p.makerFeeBps > MAX_FEE_BPS) revert IPerpetualErrors.InvalidParameter("makerFeeBps", p.makerFeeBps);
        if (p.takerFeeBps > MAX_FEE_BPS) revert IPerpetualErrors.InvalidParameter("takerFeeBps", p.takerFeeBps);
        if (p.oracleBandBps == 0 || p.oracleBandBps > MAX_BAND_BPS) {
            revert IPerpetualErrors.InvalidParameter("oracleBandBps", p.oracleBandBps);
        }
        if (p.liquidationRewardBps > MAX_REWARD_BPS) {
            revert IPerpetualErrors.InvalidParameter("liquidationRewardBps", p.liquidationRewardBps);
        }
        if (p.maxOracleAge == 0 || p.maxOracleAge > MAX_ORACLE_AGE) {
            revert IPerpetualErrors.InvalidParameter("maxOracleAge", p.maxOracleAge);
        }
        if (p.maxFundNotional == 0) revert IPerpetualErrors.InvalidParameter("maxFundNotional", 0);
        if (p.drawdownTrigger == 0 || p.drawdownTrigger > PerpMath.WAD) {
            revert IPerpetualErrors.InvalidParameter("drawdownTrigger", p.drawdownTrigger);
        }
        if (p.drawdownStop >= p.drawdownTrigger) revert IPerpetualErrors.InvalidParameter("drawdownStop", p.drawdownStop);
        if (p.hwmWindow < MIN_HWM_WINDOW || p.hwmWindow > MAX_HWM_WINDOW) {
            revert IPerpetualErrors.InvalidParameter("hwmWindow", p.hwmWindow);
        }
        if (p.notionalStop == 0 || p.notionalStop > PerpMath.WAD) revert IPerpetualErrors.InvalidParameter("notionalStop", p.notionalStop);
        // At least one unit (no dust positions), at most a billion tokens.
        if (p.minPositionNotional == 0 || p.minPositionNotional > MAX_MIN_POSITION_TOKENS * 10 ** decimals) {
            revert IPerpetualErrors.InvalidParameter("minPositionNotional", p.minPositionNotional);
        }
        // 0 (no minimum) .. a billion units of the asset
        if (p.minFillSize > MAX_MIN_FILL_SIZE) revert IPerpetualErrors.InvalidParameter("minFillSize", p.minFillSize);
    }
}
