// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarketParams} from "../../../interfaces/IPerpetualTypes.sol";

/// @title ReferenceParams
/// @notice The reference ETH-PERP parameters of the devnet deployment (perp/params.py default_params), once for every forge
///         test: 20x (imr 5%), maintenance 3%, margin call 4%, fees 2/5 bps, oracle band 5%, keeper reward 50 bps up
///         to 100 tokens, drawdown lines 30% / 20% over 8 hours, minimum position 10 tokens, minimum fill 0.001.
library ReferenceParams {
    uint256 internal constant WAD = 1e18;

    /// @param one One token in collateral units (10**decimals).
    /// @param maxFundNotionalTokens The fund's risk limit, in whole tokens.
    function eth(uint256 one, uint256 maxFundNotionalTokens) internal pure returns (MarketParams memory) {
        return MarketParams({
            imr: uint64(WAD / 20),
            mmr: uint64(3 * WAD / 100),
            mcr: uint64(4 * WAD / 100),
            makerFeeBps: 2,
            takerFeeBps: 5,
            oracleBandBps: 500,
            liquidationRewardBps: 50,
            maxLeverage: uint128(20 * WAD),
            maxOracleAge: 3_600,
            hwmWindow: 8 * 3_600,
            drawdownTrigger: uint64(3 * WAD / 10),
            maxLiquidationReward: uint128(100 * one),
            maxFundNotional: uint128(maxFundNotionalTokens * one),
            drawdownStop: uint64(2 * WAD / 10),
            notionalStop: uint64(8 * WAD / 10),
            minPositionNotional: uint128(10 * one),
            minFillSize: uint128(WAD / 1_000)
        });
    }
}
