// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {AggregatorV3Interface} from "../../interfaces/AggregatorV3Interface.sol";
import {MarketParams, Position} from "../../interfaces/IPerpetualTypes.sol";
import {AdlQueue} from "../libraries/AdlQueue.sol";
import {IPerpetualErrors} from "../../interfaces/IPerpetual.sol";

/// @title PerpStorage
/// @notice All storage of the protocol in one place. Every module reads and writes only these variables. The two
///         deployed halves (`Perpetual` and `PerpetualRisk`, which runs by delegatecall in Perpetual's storage)
///         both inherit exactly this contract and declare no storage of their own, so their layouts are the same.
/// @dev The owner (Ownable2Step) is the first storage of the layout; nothing else inherited declares storage.
abstract contract PerpStorage is Ownable2Step {
    /// @notice A listed market: oracle, parameters, open interest and its insurance fund.
    struct Market {
        AggregatorV3Interface oracle;
        uint8 oracleDecimals;
        bool listed;
        bool paused;
        // log2 of the reference price (WAD) that the ADL queue's tiers of margin per unit of size are measured
        // against: the mark at listing, rounded down to a power of two (AdlQueue.tierOf)
        uint8 refShift;
        MarketParams params;
        string name;
        // Insurance fund: cash, and a position inherited from liquidations (no margin: the cash backs it).
        int256 fundCash;
        int256 fundSize;
        int256 fundOpenNotional;
        // The distress latch, and the ends of the fund's sample queue `_fundSamples`, whose head is the high-water
        // mark (the largest equity sample of the window that ended at the last sample) and its time.
        bool fundDistressed;
        uint64 fundSampleHead;
        uint64 fundSampleTail;
        // the fund position's index snapshot (as `Position.indexSnapshot`)
        int96 fundIndexSnapshot;
        // Each side's cumulative index (WAD price units per unit of size that the side's holders pay: funding and
        // socialized losses), the open interest (the sum of long sizes, fund included; a balanced book has the same
        // on the short side), and the index balance: what positions have settled into their cost bases minus the
        // losses socialized, in collateral units (part of the vault's identity, README "Auditing").
        int128 longIndex;
        int128 shortIndex;
        uint128 openInterest;
        int128 indexBalance;
        // Funding (`FundingParams`, PerpBase._accrueFunding): the period (0: none), the time of the last accrual,
        // the rate and its target (WAD fraction of notional per period, > 0: longs pay), the bounds on the rate
        // and on its change per period, and the price the rate applies to (the mark at the last touch that read it)
        uint32 fundingPeriod;
        uint32 fundingLastAccrual;
        int64 fundingRate;
        int64 fundingTarget;
        uint64 fundingMaxRate;
        uint64 fundingMaxRateChange;
        uint96 fundingPrice;
    }

    /// @notice The collateral token; every money amount is in its units.
    IERC20 public immutable collateral;
    /// @notice Decimals of the collateral token (0..18).
    uint8 public immutable collateralDecimals;
    /// @dev 10**(18 - collateralDecimals): WAD quote amounts divided by this are collateral units.
    uint256 internal immutable _scale;

    /// @notice Number of markets listed; ids run from 1 to `marketCount`.
    uint256 public marketCount;
    mapping(uint256 marketId => Market) internal _markets;
    mapping(uint256 marketId => mapping(address account => Position)) internal _positions;
    /// @dev The ADL queue of each market side: tiers of margin per unit of cost basis, each sorted by entry.
    mapping(uint256 marketId => mapping(bool isLong => AdlQueue.Side)) internal _queues;
    /// @notice Per-account state in one slot: collateral not assigned to any position (withdrawable at any time)
    ///         and the order epoch (orders are valid only while signed for it). A fill reads both and writes the
    ///         first; an ADL fill writes both.
    struct Account {
        uint128 freeCollateral;
        uint128 orderEpoch;
    }

    mapping(address account => Account) internal _accounts;
    /// @notice Amount of an order already filled, by EIP-712 order hash; `type(uint256).max` once cancelled.
    mapping(bytes32 orderHash => uint256) public filledAmount;
    /// @dev Monotonic counter stamping positions when they open (older = smaller), the last ADL tie-break.
    uint64 internal _openSeq;
    /// @dev Each market's fund equity samples that can still become its high-water mark, a monotonic queue: times
    ///      increase and equities strictly decrease from `fundSampleHead` to `fundSampleTail` (exclusive), so the head
    ///      is the largest sample of the window. Position `i` lives in slot `i % FundWatermark.CAPACITY`, packed
    ///      `(time << 192) | uint192(equity)`.
    mapping(uint256 marketId => mapping(uint256 slot => uint256)) internal _fundSamples;

    constructor(IERC20 collateral_, uint8 decimals_) {
        if (decimals_ > 18) revert IPerpetualErrors.UnsupportedDecimals(decimals_);
        collateral = collateral_;
        collateralDecimals = decimals_;
        _scale = 10 ** (18 - uint256(decimals_));
    }
}
