// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AggregatorV3Interface} from "../../interfaces/AggregatorV3Interface.sol";

/// @title MockAggregator
/// @notice Chainlink-compatible price feed for devnets whose owner sets the price: the crash driver.
contract MockAggregator is AggregatorV3Interface, Ownable {
    /// @notice Emitted when the owner posts a new answer.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    uint8 public immutable override decimals;
    string public override description;
    uint80 public latestRound;
    mapping(uint80 roundId => int256) public answers;
    mapping(uint80 roundId => uint256) public timestamps;

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer, address owner_) Ownable(owner_) {
        decimals = decimals_;
        description = description_;
        _post(initialAnswer, block.timestamp);
    }

    /// @notice Posts a new answer stamped with the current block time.
    function setPrice(int256 answer) external onlyOwner {
        _post(answer, block.timestamp);
    }

    /// @notice Posts a new answer with an explicit update time (to make a price stale in tests).
    function setPriceAt(int256 answer, uint256 updatedAt) external onlyOwner {
        _post(answer, updatedAt);
    }

    function version() external pure override returns (uint256) {
        return 4;
    }

    function getRoundData(uint80 roundId) external view override returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answers[roundId], timestamps[roundId], timestamps[roundId], roundId);
    }

    function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
        uint80 r = latestRound;
        return (r, answers[r], timestamps[r], timestamps[r], r);
    }

    function _post(int256 answer, uint256 updatedAt) private {
        uint80 r = ++latestRound;
        answers[r] = answer;
        timestamps[r] = updatedAt;
        emit AnswerUpdated(answer, r, updatedAt);
    }
}
