// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Types shared by the perpetuals protocol, its lens and its tests.
/// @dev Units: sizes and prices are WAD (18 decimals); every money amount (margin, notional, cash, fees)
///      is in the collateral token's own units, so that the vault's token balance can be matched to the unit.

/// @notice Risk and trading parameters of one market. Owner-set, each within hard bounds.
/// @dev Packed in five slots: [imr mmr mcr fees band reward] [maxLeverage age window trigger]
///      [maxLiquidationReward maxFundNotional] [drawdownStop notionalStop minPositionNotional] [minFillSize]; a trade
///      reads the first, second, fourth and fifth.
struct MarketParams {
    /// @notice Initial margin ratio (WAD): equity needed after a fill that adds exposure is `notional * imr`.
    uint64 imr;
    /// @notice Maintenance margin ratio (WAD): a position with equity below `notional * mmr` is liquidatable.
    uint64 mmr;
    /// @notice Margin-call ratio (WAD), `mmr < mcr < imr`: equity below `notional * mcr` is a margin call.
    uint64 mcr;
    /// @notice Maker fee in basis points of the fill notional, paid to the market's insurance fund.
    uint16 makerFeeBps;
    /// @notice Taker fee in basis points of the fill notional, paid to the market's insurance fund.
    uint16 takerFeeBps;
    /// @notice Fills must lie within this band (basis points) around the oracle price.
    uint16 oracleBandBps;
    /// @notice Keeper reward on liquidation, basis points of the position notional (capped below).
    uint16 liquidationRewardBps;
    /// @notice Highest leverage (WAD, 20e18 = 20x) an order may ask for and a margin removal may leave.
    uint128 maxLeverage;
    /// @notice A price older than this many seconds is unusable.
    uint32 maxOracleAge;
    /// @notice Window of the fund's high-water mark, in seconds: the mark is the largest equity sample of the last `hwmWindow`.
    uint32 hwmWindow;
    /// @notice Drawdown of fund equity from its high-water mark (WAD) at which the fund is in distress (Type 2).
    uint64 drawdownTrigger;
    /// @notice Cap on one liquidation's keeper reward, in collateral units.
    uint128 maxLiquidationReward;
    /// @notice Risk limit: the fund refuses positions that would take its net notional above this (collateral units).
    uint128 maxFundNotional;
    /// @notice Drawdown (WAD) at or below which a distressed fund recovers; `drawdownStop < drawdownTrigger`.
    uint64 drawdownStop;
    /// @notice Type 2 triggered by the risk limit reduces the fund's notional to `maxFundNotional * notionalStop` (WAD).
    uint64 notionalStop;
    /// @notice Smallest notional (collateral units, at the fill price) a trade may leave a position open with, so
    ///         that nobody can flood a side with dust positions. ADL may leave a smaller remainder (README).
    uint128 minPositionNotional;
    /// @notice Smallest size (WAD) an order may be filled by, except the piece that completes it (0: no minimum): a
    ///         resting order cannot be cut into dust fills, each losing it up to one unit to rounding and fees.
    uint128 minFillSize;
}

/// @notice Funding of one market (owner-set, within hard bounds; `period` 0: no funding). The driver is the premium of
///         trade prices over the oracle (Hyperliquid's, BitMEX's): every trade sets the rate's target to its price's
///         premium over the mark, `(fillPrice - mark) / mark`, clamped to +-`maxRate`; the rate moves towards its
///         target by at most `maxRateChange` per period of elapsed time (dYdX P1FundingOracle's bound on the change).
///         A rate `r` (> 0: longs pay) costs a position `r` of its notional per `period`, through its side's index.
struct FundingParams {
    /// @notice Seconds in one funding period (0: no funding; else 60 s .. 30 days).
    uint32 period;
    /// @notice Largest |rate| (WAD fraction of notional per period; at most 10%).
    uint64 maxRate;
    /// @notice Largest change of the rate per period of elapsed time (WAD fraction per period; at most 100%).
    uint64 maxRateChange;
}

/// @notice An isolated-margin position. `openNotional` is the signed cost basis in collateral units
///         (long: paid, positive; short: received, negative), so the entry price is `|openNotional| / |size|`.
///         Funding and socialized losses reach it through its side's cumulative index: `indexSnapshot` is that
///         index when the position was last settled, and `|size| * (index - indexSnapshot)` (WAD price units per
///         unit of size) is what it owes since, added to `openNotional` (rounded against the holder) on its next touch.
/// @dev Packed in four slots: [size openNotional] [margin openSeq tier queued indexSnapshot] [next key qDown] [prev];
///      the ADL engine reads the first two of every position it examines and the third of every node it passes.
///      The queue fields place the position in its market side's ADL queue (`libraries/AdlQueue.sol`): its list (the
///      tier of its margin per unit of size over the market's reference price, or 242, the overflow list where a
///      position waits after a partial ADL cut until it is re-queued), whether it is linked, its neighbours, its key
///      (its entry in the side's index frame, biased, in units of 2^33 wei, rounded towards the less profitable
///      side), by which each tier is sorted, and its q in units of 2^-22, rounded down: with the key, an upper bound
///      of its score read in one slot.
struct Position {
    int128 size;
    int128 openNotional;
    uint96 margin;
    uint40 openSeq;
    uint8 tier;
    bool queued;
    int104 indexSnapshot;
    address next;
    uint64 key;
    uint32 qDown;
    address prev;
}

/// @notice A signed order (EIP-712 typed data, domain "ADL Perpetual" version "1").
/// @dev `epoch` must equal the account's current order epoch: cancelling all orders, or being deleveraged,
///      bumps the epoch and so invalidates every outstanding order at once. `isMaker` is the signer's role, and so
///      its fee: a maker order (resting, maker fee) can only be the `maker` of a `Match`, a taker order only the
///      `taker`; whoever submits the match cannot charge a resting order the taker fee.
struct Order {
    address account;
    uint256 marketId;
    bool isBuy;
    uint256 size;
    uint256 limitPrice;
    uint256 leverage;
    bool reduceOnly;
    bool isMaker;
    uint256 nonce;
    uint256 epoch;
    uint256 expiry;
}

/// @notice One matched pair for `settle` / `settleBatch`: both orders, their signatures, the fill size and price,
///         and for each side an ADL queue hint: the account after which its position belongs in its tier's list
///         (address(0): the contract searches from the position's old place, then from the tier's head, for up to
///         `AdlQueue.MAX_WALK` steps). Hints are not signed: a wrong one costs gas or reverts, it cannot misplace.
struct Match {
    Order maker;
    bytes makerSignature;
    Order taker;
    bytes takerSignature;
    uint256 fillSize;
    uint256 fillPrice;
    address makerHint;
    address takerHint;
}

/// @notice Graduated health of a position, from safest to worst.
/// @dev Healthy: equity >= IM. ReduceOnly: equity < IM, new exposure is refused. MarginCall: equity < notional * mcr.
///      Liquidatable: equity < MM. Bankrupt: equity < 0.
enum PositionState {
    None,
    Healthy,
    ReduceOnly,
    MarginCall,
    Liquidatable,
    Bankrupt
}

/// @notice Why the insurance fund refused an incoming position. `Drawdown`: accepting it would put the fund's
///         drawdown from its high-water mark at or past the trigger line (whether or not the latch is set).
enum RefusalReason {
    None,
    NegativeEquity,
    RiskLimit,
    Drawdown
}

/// @notice Why the fund is in distress (Type 2 ADL allowed), in order of precedence.
enum DistressReason {
    None,
    NegativeEquity,
    Drawdown,
    RiskLimit
}
