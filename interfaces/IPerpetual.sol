// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FundingParams, MarketParams, Position, Order, Match, PositionState, RefusalReason, DistressReason} from "./IPerpetualTypes.sol";
import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @title IPerpetualErrors
/// @notice Every custom error of the protocol. Each carries the values that made the call fail.
interface IPerpetualErrors {
    /// @notice Thrown when an amount or a size that must be positive is zero.
    error ZeroAmount();
    /// @notice Thrown when a token moved a different amount than asked (fee-on-transfer or rebasing token).
    error TokenTransferMismatch(uint256 expected, uint256 received);
    /// @notice Thrown when the collateral token reports more than 18 decimals.
    error UnsupportedDecimals(uint8 decimals);
    /// @notice Thrown when an account asks for more than its free collateral.
    error InsufficientFreeCollateral(address account, uint256 available, uint256 needed);
    /// @notice Thrown when a market id does not exist.
    error UnknownMarket(uint256 marketId);
    /// @notice Thrown on a call that needs an unpaused market.
    error MarketPaused(uint256 marketId);
    /// @notice Thrown when a parameter is outside its hard bounds; `name` names it (see `MarketParams`).
    error InvalidParameter(string name, uint256 value);
    /// @notice Thrown when an oracle answers a non-positive price.
    error InvalidOraclePrice(uint256 marketId, int256 answer);
    /// @notice Thrown when the oracle's last update is older than the market's `maxOracleAge`.
    error StaleOraclePrice(uint256 marketId, uint256 updatedAt, uint256 maxAge);
    /// @notice The feed's answer carries a timestamp after the current block's (a broken or manipulated feed).
    error OracleUpdatedInFuture(uint256 marketId, uint256 updatedAt, uint256 blockTimestamp);
    /// @notice Thrown when the account has no position in the market.
    error NoPosition(uint256 marketId, address account);
    /// @notice Thrown when a margin removal asks for more than the position's margin.
    error InsufficientPositionMargin(uint256 marketId, address account, uint256 margin, uint256 amount);
    /// @notice Thrown when equity after an action would be below the initial margin.
    error InsufficientMargin(uint256 marketId, address account, int256 equity, uint256 initialMargin);
    /// @notice Thrown when a margin removal from a position in profit would leave its margin below the initial
    ///         margin: unrealized profit does not count towards what may be taken out (realize it by trading).
    error ProfitNotWithdrawable(uint256 marketId, address account, uint256 margin, uint256 initialMargin);
    /// @notice Thrown when an order or a margin removal asks for more leverage than the market allows (WAD).
    error LeverageTooHigh(uint256 leverage, uint256 maxLeverage);
    /// @notice Thrown when an order's leverage is below 1x (WAD).
    error LeverageTooLow(uint256 leverage);
    /// @notice Thrown when a trade would realize a loss larger than the position's margin.
    error TradeLeavesBadDebt(uint256 marketId, address account, int256 marginAfter);
    /// @notice Thrown when a signature does not recover to the order's account.
    error InvalidSignature(address account, address recovered);
    /// @notice Thrown when an order's expiry has passed.
    error OrderExpired(bytes32 orderHash, uint256 expiry, uint256 timestamp);
    /// @notice Thrown when an order was cancelled by its account.
    error OrderIsCancelled(bytes32 orderHash);
    /// @notice Thrown when an order was signed for an older order epoch (all orders cancelled or deleveraged).
    error OrderEpochStale(bytes32 orderHash, uint256 orderEpoch, uint256 currentEpoch);
    /// @notice Thrown when a fill would take an order past its size.
    error OrderOverfilled(bytes32 orderHash, uint256 filled, uint256 fillSize, uint256 size);
    /// @notice Thrown when a fill is smaller than the market's `minFillSize` and does not complete the order.
    error FillBelowMinimum(bytes32 orderHash, uint256 fillSize, uint256 minFillSize);
    /// @notice Thrown when an order fills the other role of a match than the one it was signed for (`isMaker`).
    error OrderRoleMismatch(bytes32 orderHash, bool signedAsMaker);
    /// @notice Thrown when the two orders of a match are for different markets.
    error MarketMismatch(uint256 makerMarketId, uint256 takerMarketId);
    /// @notice Thrown when both orders of a match are on the same side.
    error SameSide(bool isBuy);
    /// @notice Thrown when an account's order is matched against its own order.
    error SelfTrade(address account);
    /// @notice Thrown when the fill price is beyond an order's limit price.
    error PriceOutsideLimit(bytes32 orderHash, uint256 fillPrice, uint256 limitPrice);
    /// @notice Thrown when the fill price is outside the band around the oracle price.
    error PriceOutsideOracleBand(uint256 fillPrice, uint256 oraclePrice, uint256 bandBps);
    /// @notice Thrown when a reduce-only order would add exposure.
    error ReduceOnlyViolated(bytes32 orderHash, int256 sizeBefore, int256 sizeAfter);
    /// @notice Thrown when a fill's notional rounds to zero collateral units.
    error NotionalTooSmall(uint256 fillSize, uint256 fillPrice);
    /// @notice Thrown when someone other than the order's account cancels it.
    error NotOrderOwner(address caller, address account);
    /// @notice Thrown when a position is not below maintenance margin.
    error NotLiquidatable(uint256 marketId, address account, int256 equity, uint256 maintenanceMargin);
    /// @notice Thrown when Type 2 ADL is asked of a fund that is not in distress.
    error FundNotDistressed(uint256 marketId, int256 equity, uint256 drawdown, uint256 netNotional);
    /// @notice Thrown when Type 2 ADL is asked of a fund that holds no position.
    error FundFlat(uint256 marketId);
    /// @notice Thrown when the eligible counterparties cannot absorb the whole Type 2 offset (all-or-nothing).
    error InsufficientAdlCapacity(uint256 marketId, uint256 required, uint256 available);
    /// @notice Thrown when a value does not fit the storage type it is packed into.
    error ValueOverflow(uint256 value);
    /// @notice Thrown when a trader's fill would leave a position open below the market's minimum notional.
    error PositionBelowMinimum(uint256 marketId, address account, uint256 notional, uint256 minimum);
    /// @notice Thrown when an ADL queue hint is more than `AdlQueue.MAX_WALK` nodes from the position's place.
    error QueueHintTooFar(address account, address hint);
    /// @notice Thrown when Type 2 reached the per-call work bound before offsetting the required size; ask for
    ///         less with `deleverageFund(marketId, maxSize)`.
    error AdlWorkLimit(uint256 marketId, uint256 required, uint256 filled);
    /// @notice Thrown by a `SequencerGuardedFeed` (an L2 market's oracle) while the sequencer is down (status 1
    ///         since `since`), or has no status yet (`since == 0`): no mark price, so no action that needs one.
    error SequencerDown(address sequencerUptimeFeed, uint256 since);
    /// @notice Thrown by a `SequencerGuardedFeed` within `gracePeriod` seconds after the sequencer came back up.
    error SequencerGracePeriod(address sequencerUptimeFeed, uint256 upSince, uint256 gracePeriod);
    /// @notice Always thrown by `previewDeleverageFund`, carrying what `deleverageFund` would do now: the fund's
    ///         distress reason (`DistressReason`, after this call's sample), equity and drawdown, the Type 2 price
    ///         (0 when the fund is flat), the required size, the size the ranked counterparties can take at that
    ///         price within one call's work bound (`available`; the call succeeds exactly when it equals `required`
    ///         and `required > 0`), and whether the work bound stopped it.
    error Type2Preview(
        uint256 marketId,
        uint8 reason,
        int256 equity,
        uint256 drawdown,
        uint256 price,
        uint256 required,
        uint256 available,
        bool outOfWork
    );
    /// @notice Thrown when a part of the protocol is deployed with another part built for a different collateral.
    error PartMismatch(address part);
    /// @notice Thrown when `requeue` is asked for a position that is not waiting in the overflow list.
    error NotInOverflow(uint256 marketId, address account);
}

/// @title IPerpetualEvents
/// @notice Every event of the protocol. Together they rebuild all accounts, positions and funds offline.
interface IPerpetualEvents {
    /// @notice Emitted when a market is listed.
    event MarketCreated(uint256 indexed marketId, string name, address oracle, MarketParams params);
    /// @notice Emitted when the owner changes a market's parameters.
    event MarketParamsUpdated(uint256 indexed marketId, MarketParams params);
    /// @notice Emitted when the owner sets a market's funding parameters (the funding until then accrued first).
    event FundingParamsUpdated(uint256 indexed marketId, FundingParams params);
    /// @notice Emitted when funding accrues (on the first touch of a market in a new second): the rate that applied
    ///         to the elapsed time (WAD fraction of notional per period, > 0: longs pay), the price it applied to, the
    ///         side indices after it (a long index rising by what a short index falls: zero-sum per unit of size), and
    ///         the rate from now on (moved towards its target by at most the allowed change).
    event FundingAccrued(
        uint256 indexed marketId, int256 rate, uint256 price, int256 longIndex, int256 shortIndex, int256 nextRate
    );
    /// @notice Emitted when the owner changes a market's oracle.
    event OracleUpdated(uint256 indexed marketId, address oracle);
    /// @notice Emitted when the owner pauses or unpauses a market.
    event MarketPauseSet(uint256 indexed marketId, bool paused);
    /// @notice Emitted when collateral enters the vault for `account` (paid by `from`).
    event Deposited(address indexed account, address indexed from, uint256 amount, uint256 freeCollateral);
    /// @notice Emitted when free collateral leaves the vault.
    event Withdrawn(address indexed account, uint256 amount, uint256 freeCollateral);
    /// @notice Emitted after every change of a position, with its full state and the account's free collateral.
    event PositionUpdated(
        uint256 indexed marketId,
        address indexed account,
        int256 size,
        int256 openNotional,
        uint256 margin,
        uint256 freeCollateral
    );
    /// @notice Emitted after every change of a market's insurance fund, with its full state (trading fees, which
    ///         only add to its cash, are reported in `Trade` instead, to keep fills cheap).
    event FundUpdated(uint256 indexed marketId, int256 cash, int256 size, int256 openNotional);
    /// @notice Emitted for each matched fill, with both order hashes (their filled amounts are in `filledAmount`).
    ///         The buyer pays `buyerNotional` (size x price rounded up), the seller receives `sellerNotional` (rounded
    ///         down); the difference (0 or 1 unit) and the fees are paid to the market's insurance fund cash.
    event Trade(
        uint256 indexed marketId,
        address indexed buyer,
        address indexed seller,
        uint256 size,
        uint256 price,
        uint256 buyerNotional,
        uint256 sellerNotional,
        uint256 buyerFee,
        uint256 sellerFee,
        bytes32 buyOrderHash,
        bytes32 sellOrderHash
    );
    /// @notice Emitted when an account cancels one order.
    event OrderCancelled(bytes32 indexed orderHash, address indexed account);
    /// @notice Emitted when an account's order epoch moves on, cancelling all its outstanding orders.
    event OrderEpochBumped(address indexed account, uint256 newEpoch);
    /// @notice Emitted when a position is liquidated; `equity` is at mark before the keeper reward.
    event Liquidated(
        uint256 indexed marketId,
        address indexed account,
        address indexed keeper,
        int256 size,
        uint256 markPrice,
        uint256 bankruptcyPrice,
        int256 equity,
        uint256 keeperReward
    );
    /// @notice Emitted when the insurance fund takes over a liquidated position at its bankruptcy price.
    event FundAccepted(uint256 indexed marketId, address indexed account, int256 size, uint256 bankruptcyPrice);
    /// @notice Emitted when the insurance fund refuses a liquidated position, which starts Type 1 ADL.
    event FundRefused(uint256 indexed marketId, address indexed account, RefusalReason reason);
    /// @notice Emitted for every ADL fill. `adlType` is 1 (bankrupt position, at bankruptcy price) or
    ///         2 (fund position, at mark capped at the fund's bankruptcy price). `rank` starts at 1.
    event AdlFill(
        uint256 indexed marketId,
        address indexed account,
        uint8 indexed adlType,
        int256 sizeDelta,
        uint256 price,
        uint256 notional,
        uint256 score,
        uint256 rank
    );
    /// @notice Emitted when Type 1 ADL could not cover the whole bankrupt size and the fund took the rest.
    event AdlRemainderToFund(uint256 indexed marketId, address indexed account, int256 size);
    /// @notice Emitted (before `AdlRemainderToFund`) when that rest is left by the per-call work bound rather than by
    ///         a lack of eligible counterparties; a Type 2 of the fund continues from there.
    event AdlWorkLimitReached(uint256 indexed marketId, address indexed account, int256 size);
    /// @notice Emitted when a position waiting in the overflow list after a partial ADL cut is put back in its tier.
    event PositionRequeued(uint256 indexed marketId, address indexed account);
    /// @notice Emitted when anyone adds cash to a market's insurance fund.
    event FundToppedUp(uint256 indexed marketId, address indexed from, uint256 amount);
    /// @notice Emitted when a sample changes the fund's high-water mark (its value or the time of its sample) or
    ///         its distress latch.
    event FundWatermarkUpdated(
        uint256 indexed marketId, int256 highWaterMark, uint64 highWaterMarkTimestamp, uint256 drawdown, bool distressed
    );
    /// @notice Emitted at listing: the reference price (WAD, a power of two: the mark at listing rounded down) that
    ///         the ADL queue's tiers are measured against.
    event ReferencePriceSet(uint256 indexed marketId, uint256 referencePrice);
    /// @notice Emitted when a position (`account`; address(0) for the market's insurance fund)
    ///         settles what it owes its side's index since its snapshot into its cost basis and its snapshot moves to
    ///         the index: `amount` collateral units (negative: it receives; zero when that rounds away), rounded
    ///         against the holder, moved to or from the market's index balance.
    event IndexSettled(uint256 indexed marketId, address indexed account, int256 amount);
    /// @notice The last layer of the loss waterfall: a Type 1 of `account` took the fund's cash `amount` below zero
    ///         (after the fund's cash and the ranked counterparties had done what they could), and that loss is spread
    ///         over the open positions of the side opposite to it (`longsPay`: the longs), fund included, per unit of
    ///         size: their index rises by `indexDelta` (rounded up) to `index`, and the fund's cash is back up by `amount`.
    event LossSocialized(
        uint256 indexed marketId, address indexed account, bool longsPay, uint256 amount, uint256 indexDelta, int256 index
    );
    /// @notice The one case the waterfall cannot close: the Type 1 of `account` left the fund's cash `amount` lower,
    ///         below zero, in a market with no open position left to spread it over (the fund was the last
    ///         counterparty). It stays in the fund's cash, which the market's fees and top-ups repay first.
    event LossUnsocialized(uint256 indexed marketId, address indexed account, uint256 amount);
}

/// @title IPerpetualCore
/// @notice What `Perpetual` itself implements: the vault, margin, trading by signed orders, the ADL queue's upkeep.
interface IPerpetualCore is IPerpetualErrors, IPerpetualEvents {
    // ------------------------------------------------------------------ vault / margin

    /// @notice Deposits `amount` collateral (token units) for the caller.
    function deposit(uint256 amount) external;

    /// @notice Deposits `amount` collateral paid by the caller into `account`'s free collateral (not address 0).
    function depositFor(address account, uint256 amount) external;

    /// @notice Deposits for many accounts in one call (the caller pays the sum).
    function depositForMany(address[] calldata accounts, uint256[] calldata amounts) external;

    /// @notice Withdraws `amount` of the caller's free collateral to the caller.
    function withdraw(uint256 amount) external;

    /// @notice Moves `amount` of free collateral into the caller's position margin in `marketId`. Allowed on a
    ///         paused market: adding margin only makes a position safer, and liquidation keeps running there.
    ///         The position moves to its new place in the ADL queue (searched from its old place).
    function addMargin(uint256 marketId, uint256 amount) external;

    /// @notice `addMargin` with an ADL queue hint: the account after which the position belongs in its new tier.
    function addMargin(uint256 marketId, uint256 amount, address hint) external;

    /// @notice Moves `amount` of position margin back to free collateral; equity must stay above initial
    ///         margin and leverage within the market's maximum, both counting unrealized losses but not
    ///         unrealized profit (a position in profit keeps at least its initial margin: `ProfitNotWithdrawable`).
    function removeMargin(uint256 marketId, uint256 amount) external;

    /// @notice `removeMargin` with an ADL queue hint (see `addMargin`).
    function removeMargin(uint256 marketId, uint256 amount, address hint) external;

    /// @notice Puts a position that waits in its side's overflow list (after a partial ADL cut) back in its tier,
    ///         after `hint`. Anyone may call it; it changes no balance, only where the ADL engine finds the position.
    function requeue(uint256 marketId, address account, address hint) external;

    // ------------------------------------------------------------------ trading

    /// @notice Settles one matched pair of signed orders; anyone may submit it.
    function settle(Match calldata m) external;

    /// @notice Settles many matched pairs in one transaction (all or nothing).
    function settleBatch(Match[] calldata matches) external;

    /// @notice Cancels one of the caller's orders.
    function cancelOrder(Order calldata order) external;

    /// @notice Cancels all of the caller's outstanding orders by moving its order epoch on.
    function cancelAllOrders() external;

    /// @notice EIP-712 digest that the order's account signs.
    function hashOrder(Order calldata order) external view returns (bytes32);

    /// @notice The EIP-712 domain separator ("ADL Perpetual", "1", this chain's id, this contract's address).
    function domainSeparator() external view returns (bytes32);

    // ------------------------------------------------------------------ reads

    /// @notice Collateral of `account` not assigned to any position; withdrawable at any time.
    function freeCollateral(address account) external view returns (uint256);

    /// @notice The order epoch of `account`: its orders are valid only while signed for this value.
    function orderEpoch(address account) external view returns (uint256);
}

/// @title IPerpetualRisk
/// @notice What `PerpetualRisk` implements, reached through `Perpetual`'s address (it runs by delegatecall in
///         Perpetual's storage): liquidation, the insurance fund, Type 1 and Type 2 ADL.
interface IPerpetualRisk is IPerpetualErrors, IPerpetualEvents {
    // ------------------------------------------------------------------ liquidation and ADL

    /// @notice Liquidates a position below maintenance margin. The fund takes it at its bankruptcy price, or,
    ///         if the fund refuses, Type 1 ADL closes it against the ranked counterparties (best-effort, the
    ///         rest to the fund). The keeper earns a bounded reward from the position's remaining equity.
    function liquidate(uint256 marketId, address account) external;

    /// @notice Liquidates every listed position that is liquidatable, skipping the others.
    /// @return liquidated how many positions were liquidated
    function liquidateBatch(uint256 marketId, address[] calldata accounts) external returns (uint256 liquidated);

    /// @notice Type 2 ADL: a fund in distress closes (part of) its position against the ranked counterparties at
    ///         mark, capped at the fund's bankruptcy price. All-or-nothing.
    function deleverageFund(uint256 marketId) external;

    /// @notice Type 2 ADL of at most `maxSize` (WAD) of the fund's required offset, all-or-nothing for that size:
    ///         the continuation when one call's work bound (`AdlWorkLimit`) cannot do the whole offset.
    function deleverageFund(uint256 marketId, uint256 maxSize) external;

    /// @notice Runs `deleverageFund(marketId, maxSize)` and reverts with its outcome (`Type2Preview`), changing
    ///         nothing: call it with eth_call (or read `PerpLens.type2Preview`) to know whether Type 2 would
    ///         succeed now, at what price and for how much, without a dry run of the real call.
    function previewDeleverageFund(uint256 marketId, uint256 maxSize) external;

}

/// @title IPerpetualAdmin
/// @notice What `PerpetualAdmin` implements, reached through `Perpetual`'s address: the owner's market
///         administration and the reads of the ADL queue.
interface IPerpetualAdmin is IPerpetualErrors, IPerpetualEvents {
    /// @notice Lists a market with its oracle and parameters (each within its hard bounds); returns its id.
    function createMarket(string calldata name, AggregatorV3Interface oracle, MarketParams calldata params)
        external
        returns (uint256 marketId);

    /// @notice Replaces a market's parameters (within the hard bounds).
    function setMarketParams(uint256 marketId, MarketParams calldata params) external;

    /// @notice Sets a market's funding (within the hard bounds; the funding accrued until now applies the old rate).
    function setFundingParams(uint256 marketId, FundingParams calldata params) external;

    /// @notice A market's funding: its parameters, the rate and its target (WAD fraction of notional per period,
    ///         > 0: longs pay), the price the rate applies to, the time of the last accrual, and each side's index as
    ///         it would be if the market were touched now (what a position's lens view counts).
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
        );

    /// @notice Replaces a market's oracle.
    function setOracle(uint256 marketId, AggregatorV3Interface oracle) external;

    /// @notice Pauses or unpauses trading and margin removal in a market (liquidation and ADL keep working).
    function setPaused(uint256 marketId, bool paused) external;

    /// @notice The tiers of one side that hold positions (bit t set for tier t) and the overflow list.
    function queueSide(uint256 marketId, bool isLong) external view returns (uint256 bitmap, address[] memory overflow);

    /// @notice The first account of one list (a tier, or `AdlQueue.OVERFLOW`) and its entry key (0 for the overflow
    ///         list, whose head key is not kept: the engine reads every overflow position whatever its key).
    function queueTier(uint256 marketId, bool isLong, uint256 tier) external view returns (address head, uint64 headKey);

    /// @notice Up to `count` open positions of one side, raw as stored, in queue storage order (each tier from its
    ///         head, tiers in index order, then the overflow list), starting after `after_` (address(0): from the
    ///         start; otherwise an account with a position on that side, else `NoPosition`); `next` is the account
    ///         to pass as `after_` for the following page: the last account returned, address(0) when the page
    ///         reached the end (a `count` of 0 returns `after_`). `count` may be `type(uint256).max` ("to the end").
    function sidePositions(uint256 marketId, bool isLong, address after_, uint256 count)
        external
        view
        returns (address[] memory accounts, Position[] memory positions, address next);

    // ------------------------------------------------------------------ market and position reads

    /// @notice Mark price (WAD) of a market; reverts if the oracle is stale or non-positive.
    function markPrice(uint256 marketId) external view returns (uint256);

    /// @notice A market's name, oracle, parameters and pause flag.
    function marketInfo(uint256 marketId)
        external
        view
        returns (string memory name, address oracle, MarketParams memory params, bool paused);

    /// @notice The stored position (size, cost basis, margin, opening sequence, place in the ADL queue).
    function getPosition(uint256 marketId, address account) external view returns (Position memory);

    /// @notice A market's index state: each side's cumulative index (WAD price units per unit of size that its
    ///         holders pay: funding and socialized losses), the open interest (sum of long sizes, fund included),
    ///         the index balance (collateral units settled into cost bases minus losses socialized), the fund
    ///         position's index snapshot and the reference price of the ADL queue's tiers (WAD, a power of two).
    function marketIndex(uint256 marketId)
        external
        view
        returns (
            int256 longIndex,
            int256 shortIndex,
            uint256 openInterest,
            int256 indexBalance,
            int256 fundIndexSnapshot,
            uint256 referencePrice
        );

    // ------------------------------------------------------------------ the insurance fund's cash and samples

    /// @notice Adds `amount` collateral (paid by the caller) to the market's insurance fund cash.
    function topUpFund(uint256 marketId, uint256 amount) external;

    /// @notice Samples the fund's equity at the current mark price into its high-water mark and moves the distress
    ///         latch (trades, liquidations and Type 2 calls take the same sample; a poke only adds one more).
    function pokeFund(uint256 marketId) external;

    /// @notice The fund's stored state: cash, net position (size and signed cost basis), high-water mark (the
    ///         largest equity sample of the window that ended at the last sample), when that sample was taken, and
    ///         the drawdown distress latch. `PerpLens.fundState` values it at mark.
    function fundAccount(uint256 marketId)
        external
        view
        returns (
            int256 cash,
            int256 size,
            int256 openNotional,
            int256 highWaterMark,
            uint64 highWaterMarkTimestamp,
            bool distressed
        );
}

/// @title IPerpetual
/// @notice Perpetual futures with isolated margin, an insurance fund per market, liquidation, and ranked
///         auto-deleveraging (Type 1 at the bankruptcy price, Type 2 at mark for the fund): everything a user calls
///         at the `Perpetual` address, whichever part implements it.
interface IPerpetual is IPerpetualCore, IPerpetualRisk, IPerpetualAdmin {}
