// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Perpetual} from "../../../contracts/Perpetual.sol";
import {PerpetualRisk} from "../../../contracts/PerpetualRisk.sol";
import {Position} from "../../../interfaces/IPerpetualTypes.sol";
import {AdlQueue} from "../../../contracts/libraries/AdlQueue.sol";

/// @title BenchPerpetual
/// @notice The benchmark's fast path to big books, deployed only by tests/forge/bench: `Perpetual` itself (every
///         function unchanged) plus functions that write positions and fund state straight into storage and into the
///         ADL queue through the same `AdlQueue` code trades use. Seeding 100,000 positions by signed trades would
///         cost about 16 billion gas of signatures and fees that measure nothing the benchmark is about.
contract BenchPerpetual is Perpetual {
    constructor(IERC20Metadata collateral_, address owner_, PerpetualRisk risk_) Perpetual(collateral_, owner_, risk_) {}

    /// @notice Opens positions directly (no collateral moves); each is queued after `hints[i]` (address(0): from its
    ///         old place or the tier's head), exactly as a trade's fill would queue it.
    function seed(
        uint256 marketId,
        address[] calldata accounts,
        int128[] calldata sizes,
        int128[] calldata openNotionals,
        uint128[] calldata margins,
        address[] calldata hints
    ) external {
        for (uint256 i; i < accounts.length; ++i) {
            Position storage p = _positions[marketId][accounts[i]];
            p.size = sizes[i];
            p.openNotional = openNotionals[i];
            p.margin = uint96(margins[i]);
            p.openSeq = uint40(++_openSeq);
            _afterSizeChange(_markets[marketId], 0, sizes[i]);
            _requeue(marketId, accounts[i], hints[i]);
        }
    }

    /// @notice log2 of the market's reference price (the ADL queue's tiers are measured against it).
    function refShift(uint256 marketId) external view returns (uint256) {
        return _markets[marketId].refShift;
    }

    /// @notice Sets a market's insurance fund (cash, position, high-water mark, drawdown latch).
    function seedFund(uint256 marketId, int256 cash, int256 size, int256 openNotional, int256 hwm, bool distressed)
        external
    {
        Market storage mkt = _markets[marketId];
        _afterSizeChange(mkt, mkt.fundSize, size);
        mkt.fundCash = cash;
        mkt.fundSize = size;
        mkt.fundOpenNotional = openNotional;
        mkt.fundDistressed = distressed;
        // the mark as the one sample of the window (FundWatermark's ring: position 0)
        _fundSamples[marketId][0] = (block.timestamp << 192) | uint256(uint192(int192(hwm)));
        mkt.fundSampleHead = 0;
        mkt.fundSampleTail = 1;
    }

    /// @notice A position's margin changed with its ADL queue upkeep (remove, insert after `hint`) ...
    function setMarginAndRequeue(uint256 marketId, address account, uint128 margin, address hint) external {
        _positions[marketId][account].margin = uint96(margin);
        _requeue(marketId, account, hint);
    }

    /// @notice ... and without it: the difference of the two is what keeping the queue up to date costs.
    function setMarginOnly(uint256 marketId, address account, uint128 margin) external {
        _positions[marketId][account].margin = uint96(margin);
    }

    /// @notice The account after which a position with this margin and cost basis belongs in its tier (a view walk:
    ///         what an off-chain client computes before it sends a trade with a hint).
    function hintFor(uint256 marketId, bool isLong, int256 size, int256 openNotional, uint256 margin)
        external
        view
        returns (address prev)
    {
        uint8 t = AdlQueue.tierOf(margin, size >= 0 ? uint256(size) : uint256(-size), _markets[marketId].refShift, _scale);
        uint64 key = AdlQueue.keyOf(size, openNotional, isLong ? _markets[marketId].longIndex : _markets[marketId].shortIndex, _scale);
        address n = AdlQueue.head(_queues[marketId][isLong], t);
        while (n != address(0) && AdlQueue.ahead(isLong, _positions[marketId][n].key, key)) {
            prev = n;
            n = _positions[marketId][n].next;
        }
    }
}
