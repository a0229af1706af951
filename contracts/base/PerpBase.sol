// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IPerpetualErrors, IPerpetualEvents} from "../../interfaces/IPerpetual.sol";
import {MarketParams, Position} from "../../interfaces/IPerpetualTypes.sol";
import {PerpStorage} from "./PerpStorage.sol";
import {PerpMath} from "../libraries/PerpMath.sol";
import {AdlQueue} from "../libraries/AdlQueue.sol";
import {FundWatermark} from "../libraries/FundWatermark.sol";

/// @title PerpBase
/// @notice The accounting core shared by every module: the oracle read, and how a fill changes a trader's
///         position or the insurance fund's position.
/// @dev Cash model. A position keeps its signed cost basis `openNotional` in collateral units. A fill of size
///      `delta` for `notional` either adds to the position (cost basis grows by the notional) or reduces it
///      (the reduced share of the cost basis is released, rounded against the holder, and the difference to
///      the notional is the realized PnL, booked to the position margin). Because both sides of every fill
///      use the same notional, a fill moves value between accounts and never creates any: the vault holds,
///      to the unit, free collateral + margins + fund cash - the sum of all cost bases (see `Auditing` in
///      the README).
abstract contract PerpBase is IPerpetualErrors, IPerpetualEvents, PerpStorage {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SafeCast for int256;

    /// @dev Largest usable mark price (WAD), see `_markPrice`.
    uint256 internal constant MAX_PRICE = 2 ** 95;

    // ------------------------------------------------------------------ tokens

    /// @dev Pulls `amount` from `from` and checks the vault received exactly that (no fee-on-transfer tokens).
    function _pullCollateral(address from, uint256 amount) internal {
        uint256 before = collateral.balanceOf(address(this));
        collateral.safeTransferFrom(from, address(this), amount);
        uint256 received = collateral.balanceOf(address(this)) - before;
        if (received != amount) revert TokenTransferMismatch(amount, received);
    }

    // ------------------------------------------------------------------ free collateral

    /// @dev Adds to free collateral; returns the new balance.
    function _credit(address account, uint256 amount) internal returns (uint256 free) {
        free = uint256(_accounts[account].freeCollateral) + amount;
        _accounts[account].freeCollateral = free.toUint128();
    }

    /// @dev Takes from free collateral, reverting with the amounts if it is short; returns the new balance.
    function _debit(address account, uint256 amount) internal returns (uint256 free) {
        free = _accounts[account].freeCollateral;
        if (free < amount) revert InsufficientFreeCollateral(account, free, amount);
        free -= amount;
        _accounts[account].freeCollateral = uint128(free);
    }

    // ------------------------------------------------------------------ oracle

    /// @dev Mark price (WAD) from the market's Chainlink-compatible feed; reverts if unusable.
    function _markPrice(uint256 marketId, Market storage mkt) internal view returns (uint256) {
        (, int256 answer,, uint256 updatedAt,) = mkt.oracle.latestRoundData();
        if (answer <= 0) revert InvalidOraclePrice(marketId, answer);
        if (updatedAt > block.timestamp) revert OracleUpdatedInFuture(marketId, updatedAt, block.timestamp);
        uint256 maxAge = mkt.params.maxOracleAge;
        if (updatedAt + maxAge < block.timestamp) revert StaleOraclePrice(marketId, updatedAt, maxAge);
        uint256 price = uint256(answer) * 10 ** (18 - uint256(mkt.oracleDecimals));
        // Usable prices stay below 2**95 so that size * price never overflows (PerpMath.notionalDown) and every
        // entry price, within the trading band of a usable price, fits an ADL queue key (96 bits).
        if (price > MAX_PRICE) revert InvalidOraclePrice(marketId, answer);
        return price;
    }

    function _market(uint256 marketId) internal view returns (Market storage mkt) {
        mkt = _markets[marketId];
        if (!mkt.listed) revert UnknownMarket(marketId);
    }

    function _activeMarket(uint256 marketId) internal view returns (Market storage mkt) {
        mkt = _market(marketId);
        if (mkt.paused) revert MarketPaused(marketId);
    }

    // ------------------------------------------------------------------ position valuation

    /// @dev Unrealized PnL at `price`, rounded against the holder.
    function _unrealizedPnl(int256 size, int256 openNotional, uint256 price) internal view returns (int256) {
        return PerpMath.unrealizedPnl(size, openNotional, price, _scale);
    }

    /// @dev Equity (margin balance) of a position at `price`, with what it owes its side's index settled.
    function _equity(Market storage mkt, Position storage pos, uint256 price) internal view returns (int256) {
        return int256(uint256(pos.margin)) + _unrealizedPnl(pos.size, _settledOpenNotional(mkt, pos), price);
    }

    /// @dev Notional at `price`, rounded up (requirements are rounded against the account).
    function _notionalUp(int256 size, uint256 price) internal view returns (uint256) {
        return PerpMath.notionalUp(PerpMath.abs(size), price, _scale);
    }

    function _bankruptcyNotional(Market storage mkt, Position storage pos) internal view returns (uint256) {
        return PerpMath.bankruptcyNotional(pos.size, _settledOpenNotional(mkt, pos), pos.margin);
    }

    /// @dev Initial margin check after a fill or a margin removal: equity >= notional * imr.
    function _requireInitialMargin(uint256 marketId, address account, Market storage mkt, uint256 price) internal view {
        Position storage pos = _positions[marketId][account];
        if (pos.size == 0) return;
        int256 equity = _equity(mkt, pos, price);
        uint256 im = PerpMath.wadMulUp(_notionalUp(pos.size, price), mkt.params.imr);
        if (equity < int256(im)) revert InsufficientMargin(marketId, account, equity, im);
    }

    // ------------------------------------------------------------------ the side indices (funding, socialized losses)

    /// @dev Largest |index| (WAD price units per unit of size) a side may reach: the fund's snapshot is int96 (a
    ///      position's int104) and keys stay below 2^64 (AdlQueue.KEY_BIAS).
    int256 internal constant MAX_INDEX = 2 ** 94;

    /// @dev What a position of `size` with snapshot `snapshot` owes its side's index `index`, in collateral units,
    ///      rounded against the holder (up; negative: it receives, rounded down).
    function _indexOwedUp(int256 size, int256 index, int256 snapshot) internal view returns (int256) {
        if (index == snapshot || size == 0) return 0;
        return PerpMath.mulDivSignedCeil(index - snapshot, PerpMath.abs(size), PerpMath.WAD * _scale);
    }

    /// @dev The cost basis a position would have once what it owes its side's index is settled.
    function _settledOpenNotional(Market storage mkt, Position storage pos) internal view returns (int256) {
        int256 size = pos.size;
        return pos.openNotional + _indexOwedUp(size, size > 0 ? mkt.longIndex : mkt.shortIndex, pos.indexSnapshot);
    }

    /// @dev Settles what a position owes (or is owed by) its side's index since its snapshot into its cost basis and
    ///      the market's index balance. Its key stays a valid bound (AdlQueue: settlement rounds against the holder).
    function _settleIndex(uint256 marketId, Market storage mkt, address account, Position storage pos) internal {
        int256 size = pos.size;
        if (size == 0) return;
        int256 index = size > 0 ? mkt.longIndex : mkt.shortIndex;
        int256 snapshot = pos.indexSnapshot;
        if (index == snapshot) return;
        int256 paid = _indexOwedUp(size, index, snapshot);
        pos.indexSnapshot = int104(index); // |index| <= MAX_INDEX
        if (paid != 0) {
            pos.openNotional = (pos.openNotional + paid).toInt128();
            mkt.indexBalance += int128(paid);
        }
        emit IndexSettled(marketId, account, paid);
    }

    /// @dev The same for the fund's position (its cost basis `fundOpenNotional`); the event names address(0).
    function _settleFundIndex(uint256 marketId, Market storage mkt) internal {
        int256 size = mkt.fundSize;
        if (size == 0) return;
        int256 index = size > 0 ? mkt.longIndex : mkt.shortIndex;
        int256 snapshot = mkt.fundIndexSnapshot;
        if (index == snapshot) return;
        int256 paid = _indexOwedUp(size, index, snapshot);
        mkt.fundIndexSnapshot = int96(index);
        if (paid != 0) {
            mkt.fundOpenNotional += paid;
            mkt.indexBalance += int128(paid);
        }
        emit IndexSettled(marketId, address(0), paid);
    }

    // ------------------------------------------------------------------ funding (moves the side indices)

    /// @dev The funding from the last accrual to now: the index step per unit of size that longs pay and shorts
    ///      receive (`rate * price * elapsed / period`, rounded towards zero: both sides move by the same step, so
    ///      funding is zero-sum per unit of size exactly), and the rate from now on: moved towards its target by at
    ///      most `maxRateChange * elapsed / period`. The rate that applies to the elapsed time is the one set at its
    ///      start (a step function), so that the accrual is exact whatever the times of the touches.
    function _fundingStep(Market storage mkt) internal view returns (int256 step, int256 nextRate) {
        uint256 period = mkt.fundingPeriod;
        int256 rate = mkt.fundingRate;
        if (period == 0) return (0, rate);
        uint256 elapsed = block.timestamp - mkt.fundingLastAccrual;
        uint256 mag = Math.mulDiv(PerpMath.abs(rate), uint256(mkt.fundingPrice) * elapsed, period * PerpMath.WAD);
        step = rate >= 0 ? int256(mag) : -int256(mag);
        int256 target = mkt.fundingTarget;
        int256 move = int256(Math.mulDiv(mkt.fundingMaxRateChange, elapsed, period));
        if (target > rate) nextRate = target - rate > move ? rate + move : target;
        else nextRate = rate - target > move ? rate - move : target;
    }

    /// @dev Accrues funding into the side indices (every touch of the market calls it before it values anything);
    ///      `price` (0: not read by this call) becomes the price the rate applies to from now on.
    function _accrueFunding(uint256 marketId, Market storage mkt, uint256 price) internal {
        if (mkt.fundingPeriod == 0) return;
        if (block.timestamp != mkt.fundingLastAccrual) {
            (int256 step, int256 nextRate) = _fundingStep(mkt);
            int256 rate = mkt.fundingRate;
            int256 longIndex = mkt.longIndex + step;
            int256 shortIndex = mkt.shortIndex - step;
            if (longIndex > MAX_INDEX || longIndex < -MAX_INDEX || shortIndex > MAX_INDEX || shortIndex < -MAX_INDEX) {
                revert ValueOverflow(PerpMath.abs(step));
            }
            mkt.fundingLastAccrual = uint32(block.timestamp);
            if (step != 0 || nextRate != rate) {
                mkt.longIndex = int128(longIndex);
                mkt.shortIndex = int128(shortIndex);
                mkt.fundingRate = int64(nextRate);
                emit FundingAccrued(marketId, rate, mkt.fundingPrice, longIndex, shortIndex, nextRate);
            }
        }
        if (price != 0) mkt.fundingPrice = uint96(price);
    }

    /// @dev Open interest follows every change of a long size (a new or flipped position starts at its side's index).
    function _afterSizeChange(Market storage mkt, int256 before, int256 after_) internal {
        int256 longBefore = before > 0 ? before : int256(0);
        int256 longAfter = after_ > 0 ? after_ : int256(0);
        if (longBefore != longAfter) {
            mkt.openInterest = uint256(int256(uint256(mkt.openInterest)) + longAfter - longBefore).toUint128();
        }
    }

    // ------------------------------------------------------------------ fills

    /// @dev The closing part of a fill of `absDelta` for `notional` against an opposite position of `size`:
    ///      how much closes, for what share of the notional (rounded down), the share of the cost basis it
    ///      releases (rounded up, against the holder) and the PnL it realizes.
    function _reduction(int256 size, int256 openNotional, uint256 absDelta, uint256 notional)
        internal
        pure
        returns (uint256 closed, uint256 closeNotional, int256 released, int256 pnl)
    {
        uint256 absSize = PerpMath.abs(size);
        closed = PerpMath.min(absDelta, absSize);
        closeNotional = closed == absDelta ? notional : Math.mulDiv(notional, closed, absDelta);
        released = PerpMath.mulDivSignedCeil(openNotional, closed, absSize);
        pnl = size > 0 ? int256(closeNotional) - released : -int256(closeNotional) - released;
    }

    /// @dev Applies a fill to a trader's position. Margin for added exposure is taken from free collateral at
    ///      `leverage` (notional / leverage, rounded up). A reduction books its realized PnL to the margin
    ///      (reverting if that leaves it negative) and releases the reduced share of the margin to free collateral
    ///      (rounded down), but never more than the remaining position's equity above its initial margin at `mark`:
    ///      an underwater position cannot be milked of margin by partial closes.
    ///      What the position owes its side's index is settled first; a new (or flipped) position starts at its side's
    ///      index, and the market's open interest follows.
    /// @return increased whether the fill added exposure (then the caller checks initial margin)
    function _fillTrader(
        uint256 marketId,
        address account,
        int256 delta,
        uint256 notional,
        uint256 leverage,
        uint256 mark
    ) internal returns (bool increased) {
        Market storage mkt = _markets[marketId];
        Position storage pos = _positions[marketId][account];
        int256 before = pos.size;
        _settleIndex(marketId, mkt, account, pos);
        increased = _applyFill(marketId, account, pos, delta, notional, leverage, mark);
        int256 after_ = pos.size;
        if (after_ != 0 && (before == 0 || (before > 0) != (after_ > 0))) {
            pos.indexSnapshot = int104(after_ > 0 ? mkt.longIndex : mkt.shortIndex);
        }
        _afterSizeChange(mkt, before, after_);
    }

    function _applyFill(
        uint256 marketId,
        address account,
        Position storage pos,
        int256 delta,
        uint256 notional,
        uint256 leverage,
        uint256 mark
    ) private returns (bool increased) {
        int256 size = pos.size;
        uint256 absDelta = PerpMath.abs(delta);
        uint256 openNotionalPart = notional;
        uint256 openSizePart = absDelta;

        if (size != 0 && (size > 0) != (delta > 0)) {
            // Reduce (and possibly flip).
            uint256 absSize = PerpMath.abs(size);
            (uint256 closed, uint256 closeNotional, int256 released, int256 pnl) =
                _reduction(size, pos.openNotional, absDelta, notional);
            int256 marginAfter = int256(uint256(pos.margin)) + pnl;
            if (marginAfter < 0) revert TradeLeavesBadDebt(marketId, account, marginAfter);
            if (closed == absSize) {
                _credit(account, uint256(marginAfter));
                _closePosition(marketId, account, pos);
                size = 0;
            } else {
                int256 keptSize = size + (size > 0 ? -int256(closed) : int256(closed));
                int256 keptNotional = pos.openNotional - released;
                uint256 releasedMargin = _releasable(
                    marketId, keptSize, keptNotional, uint256(marginAfter), Math.mulDiv(uint256(marginAfter), closed, absSize), mark
                );
                _credit(account, releasedMargin);
                pos.size = keptSize.toInt128();
                pos.openNotional = keptNotional.toInt128();
                pos.margin = (uint256(marginAfter) - releasedMargin).toUint96();
                return false;
            }
            openSizePart = absDelta - closed;
            if (openSizePart == 0) return false;
            openNotionalPart = notional - closeNotional;
        }

        // Increase (or open, or the opening part of a flip).
        uint256 marginNeeded = PerpMath.wadDivUp(openNotionalPart, leverage);
        _debit(account, marginNeeded);
        bool isLong = delta > 0;
        if (size == 0) pos.openSeq = uint256(++_openSeq).toUint40(); // a new position: its age, the last ADL tie-break
        int256 signedOpen = isLong ? int256(openSizePart) : -int256(openSizePart);
        int256 signedNotional = isLong ? int256(openNotionalPart) : -int256(openNotionalPart);
        pos.size = (pos.size + signedOpen).toInt128();
        pos.openNotional = (pos.openNotional + signedNotional).toInt128();
        pos.margin = (uint256(pos.margin) + marginNeeded).toUint96();
        return true;
    }

    /// @dev Margin a partial reduction may release: the pro-rata share, capped at the equity of the remaining
    ///      position (`keptSize`, `keptNotional`, margin `marginAfter`) above its initial margin at `mark`.
    function _releasable(
        uint256 marketId,
        int256 keptSize,
        int256 keptNotional,
        uint256 marginAfter,
        uint256 proRata,
        uint256 mark
    ) private view returns (uint256) {
        int256 equity = int256(marginAfter) + _unrealizedPnl(keptSize, keptNotional, mark);
        int256 excess = equity - int256(PerpMath.wadMulUp(_notionalUp(keptSize, mark), _markets[marketId].params.imr));
        if (excess >= int256(proRata)) return proRata;
        return excess > 0 ? uint256(excess) : 0;
    }

    /// @dev Applies a fill to the market's insurance fund position (what it owes its side's index settled first);
    ///      realized PnL goes to fund cash.
    function _fillFund(uint256 marketId, Market storage mkt, int256 delta, uint256 notional) internal {
        int256 before = mkt.fundSize;
        _settleFundIndex(marketId, mkt);
        _applyFundFill(mkt, delta, notional);
        int256 after_ = mkt.fundSize;
        if (after_ != 0 && (before == 0 || (before > 0) != (after_ > 0))) {
            mkt.fundIndexSnapshot = int96(after_ > 0 ? mkt.longIndex : mkt.shortIndex);
        }
        _afterSizeChange(mkt, before, after_);
    }

    function _applyFundFill(Market storage mkt, int256 delta, uint256 notional) private {
        int256 size = mkt.fundSize;
        uint256 absDelta = PerpMath.abs(delta);
        uint256 openNotionalPart = notional;
        uint256 openSizePart = absDelta;
        if (size != 0 && (size > 0) != (delta > 0)) {
            (uint256 closed, uint256 closeNotional, int256 released, int256 pnl) =
                _reduction(size, mkt.fundOpenNotional, absDelta, notional);
            mkt.fundCash += pnl;
            mkt.fundOpenNotional -= released;
            mkt.fundSize = size > 0 ? size - int256(closed) : size + int256(closed);
            openSizePart = absDelta - closed;
            if (openSizePart == 0) return;
            openNotionalPart = notional - closeNotional;
        }
        bool isLong = delta > 0;
        mkt.fundSize += isLong ? int256(openSizePart) : -int256(openSizePart);
        mkt.fundOpenNotional += isLong ? int256(openNotionalPart) : -int256(openNotionalPart);
    }

    /// @dev Removes a fully closed position: out of its ADL queue, then the slots cleared.
    function _closePosition(uint256 marketId, address account, Position storage pos) private {
        AdlQueue.removeClosing(_queues[marketId][pos.size > 0], _positions[marketId], account);
        delete _positions[marketId][account]; // (its queue fields too: removeClosing leaves them)
    }

    // ------------------------------------------------------------------ ADL queue and minimum size

    /// @dev Re-sorts `account`'s position in its side's ADL queue after a trader's action changed it (after `hint`
    ///      in its tier, see `AdlQueue.requeue`). A closed position has already left the queue.
    function _requeue(uint256 marketId, address account, address hint) internal {
        int256 size = _positions[marketId][account].size;
        if (size == 0) return;
        AdlQueue.requeue(
            _queues[marketId][size > 0], _positions[marketId], account, size > 0, hint, _scale, _markets[marketId].refShift
        );
    }

    /// @dev After an ADL cut that left a position open: to the overflow list until someone re-queues it.
    function _toOverflow(uint256 marketId, address account, bool isLong) internal {
        AdlQueue.toOverflow(_queues[marketId][isLong], _positions[marketId], account);
    }

    /// @dev A trader's fill may not leave a position open below the market's minimum notional (at `price`).
    function _requireMinNotional(uint256 marketId, Market storage mkt, address account, uint256 price) internal view {
        int256 size = _positions[marketId][account].size;
        if (size == 0) return;
        uint256 notional = PerpMath.notionalDown(PerpMath.abs(size), price, _scale);
        uint256 minimum = mkt.params.minPositionNotional;
        if (notional < minimum) revert PositionBelowMinimum(marketId, account, notional, minimum);
    }

    // ------------------------------------------------------------------ insurance fund valuation

    /// @dev Fund equity at `price`: cash plus the unrealized PnL of the position it holds (settled: every caller runs
    ///      after `_updateWatermark`).
    function _fundEquity(Market storage mkt, uint256 price) internal view returns (int256) {
        return mkt.fundCash + _unrealizedPnl(mkt.fundSize, mkt.fundOpenNotional, price);
    }

    /// @dev Samples the fund's equity at `price` into its high-water mark (the largest sample of the window that
    ///      ends now, `FundWatermark`) and moves the distress latch (set when the drawdown from the mark reaches the
    ///      trigger line, cleared when it is back at the stop line). Every trade, liquidation, Type 2 call and
    ///      `pokeFund` calls it before it acts, so that nobody decides the mark by timing a call.
    function _updateWatermark(uint256 marketId, Market storage mkt, uint256 price)
        internal
        returns (int256 equity, uint256 drawdown)
    {
        _accrueFunding(marketId, mkt, price); // every touch accrues funding first
        _settleFundIndex(marketId, mkt); // the fund's own position pays and receives its side's index too
        equity = _fundEquity(mkt, price);
        mapping(uint256 => uint256) storage ring = _fundSamples[marketId];
        (uint256 head, uint256 tail) = (mkt.fundSampleHead, mkt.fundSampleTail);
        (int256 oldHwm, uint256 oldTime) = FundWatermark.top(ring, head, tail);
        int256 hwm;
        uint256 hwmTime;
        (head, tail, hwm, hwmTime) =
            FundWatermark.sample(ring, head, tail, block.timestamp, mkt.params.hwmWindow, equity);
        mkt.fundSampleHead = uint64(head);
        mkt.fundSampleTail = uint64(tail);
        bool changed = hwm != oldHwm || hwmTime != oldTime;
        drawdown = PerpMath.drawdown(hwm, equity);
        bool distressed = mkt.fundDistressed;
        if (!distressed && drawdown >= mkt.params.drawdownTrigger) distressed = true;
        else if (distressed && drawdown <= mkt.params.drawdownStop) distressed = false;
        if (distressed != mkt.fundDistressed) {
            mkt.fundDistressed = distressed;
            changed = true;
        }
        if (changed) emit FundWatermarkUpdated(marketId, hwm, uint64(hwmTime), drawdown, distressed);
    }

    /// @dev The fund's high-water mark and the time of its sample (the head of its sample queue).
    function _highWaterMark(uint256 marketId, Market storage mkt) internal view returns (int256 hwm, uint256 hwmTime) {
        return FundWatermark.top(_fundSamples[marketId], mkt.fundSampleHead, mkt.fundSampleTail);
    }

    // ------------------------------------------------------------------ events

    /// @dev Cancels every outstanding order of `account` (orders are signed for one epoch).
    function _bumpOrderEpoch(address account) internal {
        uint256 epoch = uint256(_accounts[account].orderEpoch) + 1;
        _accounts[account].orderEpoch = uint128(epoch);
        emit OrderEpochBumped(account, epoch);
    }

    function _emitPosition(uint256 marketId, address account) internal {
        Position storage pos = _positions[marketId][account];
        emit PositionUpdated(
            marketId, account, pos.size, pos.openNotional, pos.margin, _accounts[account].freeCollateral
        );
    }

    function _emitFund(uint256 marketId, Market storage mkt) internal {
        emit FundUpdated(marketId, mkt.fundCash, mkt.fundSize, mkt.fundOpenNotional);
    }
}
