// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../../interfaces/AggregatorV3Interface.sol";
import {IPerpetualErrors} from "../../interfaces/IPerpetual.sol";

/// @title SequencerGuardedFeed
/// @notice A price feed for L2 deployments that is only usable while the network's sequencer is up, following
///         Chainlink's L2 sequencer-uptime convention: the uptime feed answers 0 (up) or 1 (down), and its
///         `startedAt` is when that status began. A market listed with this feed as its oracle cannot read a mark
///         price while the sequencer is down (`SequencerDown`), nor during a grace period after it came back
///         (`SequencerGracePeriod`), so nobody is liquidated on prices that traders could not react to: every action
///         that needs the mark stops, changing nothing, as with a stale price. On L1 no guard is needed: list the
///         price feed itself.
/// @dev Immutable: the price feed, the uptime feed and the grace period are fixed at deployment. Every read of the
///      price feed is forwarded unchanged; only `latestRoundData` (the one the protocol reads) is guarded.
contract SequencerGuardedFeed is AggregatorV3Interface, IPerpetualErrors {
    /// @notice The price feed whose answers this feed passes on.
    AggregatorV3Interface public immutable priceFeed;
    /// @notice The network's sequencer-uptime feed (answer 0: up, 1: down; `startedAt`: since when).
    AggregatorV3Interface public immutable sequencerUptimeFeed;
    /// @notice Seconds after the sequencer came back up during which prices are still refused.
    uint256 public immutable gracePeriod;

    /// @notice Longest grace period accepted (a day).
    uint256 public constant MAX_GRACE_PERIOD = 1 days;

    constructor(AggregatorV3Interface priceFeed_, AggregatorV3Interface sequencerUptimeFeed_, uint256 gracePeriod_) {
        if (address(priceFeed_) == address(0)) revert InvalidParameter("priceFeed", 0);
        if (address(sequencerUptimeFeed_) == address(0)) revert InvalidParameter("sequencerUptimeFeed", 0);
        if (gracePeriod_ > MAX_GRACE_PERIOD) revert InvalidParameter("gracePeriod", gracePeriod_);
        priceFeed = priceFeed_;
        sequencerUptimeFeed = sequencerUptimeFeed_;
        gracePeriod = gracePeriod_;
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external view returns (uint8) {
        return priceFeed.decimals();
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        return priceFeed.description();
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external view returns (uint256) {
        return priceFeed.version();
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        return priceFeed.getRoundData(roundId);
    }

    /// @notice The price feed's latest round, if the sequencer is up and has been for longer than the grace period.
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        (, int256 status, uint256 since,,) = sequencerUptimeFeed.latestRoundData();
        // a status other than 0, or no status yet (since == 0, an uninitialised round), counts as down
        if (status != 0 || since == 0) revert SequencerDown(address(sequencerUptimeFeed), since);
        if (block.timestamp - since <= gracePeriod) {
            revert SequencerGracePeriod(address(sequencerUptimeFeed), since, gracePeriod);
        }
        return priceFeed.latestRoundData();
    }
}
