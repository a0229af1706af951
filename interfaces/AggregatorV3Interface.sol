// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @title AggregatorV3Interface
/// @notice Chainlink's price feed interface (the subset of `@chainlink/contracts` the protocol reads).
interface AggregatorV3Interface {
    /// @notice Decimals of the answer.
    function decimals() external view returns (uint8);

    /// @notice Human-readable description of the feed.
    function description() external view returns (string memory);

    /// @notice Version of the aggregator.
    function version() external view returns (uint256);

    /// @notice Data of a given round.
    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice Data of the latest round.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
