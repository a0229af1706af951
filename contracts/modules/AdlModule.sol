// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IPerpetual} from "../../interfaces/IPerpetual.sol";
import {Position, DistressReason} from "../../interfaces/IPerpetualTypes.sol";
import {PerpMath} from "../libraries/PerpMath.sol";
import {InsuranceFundModule} from "./InsuranceFundModule.sol";
import {AdlRanking} from "../libraries/AdlRanking.sol";

/// @title AdlModule
/// @notice Auto-deleveraging, ranked on-chain. The contract scans the opposite side of the market and orders the
///         eligible positions (unrealized PnL > 0 at mark) by `Score = PnL% x Effective Leverage = u / E`, ties to
///         the larger position, then to the older one. Nobody supplies the order, so nobody can get it wrong.
///         Cost: one pass over the side's positions (three storage slots each) plus a selection per fill.
/// @dev A ranked position is cut by at most its own size, and by at most what keeps its margin non-negative
///      after realizing PnL at the fill price (a counterparty is never left with negative equity). A position
///      that cannot be cut at all at that price is passed over; that is the only way a lower rank is cut first.
abstract contract AdlModule is InsuranceFundModule {
    uint8 internal constant ADL_TYPE_BANKRUPT = 1;
    uint8 internal constant ADL_TYPE_FUND = 2;

    /// @inheritdoc IPerpetual
    function deleverageFund(uint256 marketId) external nonReentrant {
        Market storage mkt = _market(marketId);
        uint256 price = _markPrice(marketId, mkt);
        (int256 equity, uint256 drawdown) = _updateWatermark(marketId, mkt, price);
        int256 fundSize = mkt.fundSize;
        if (fundSize == 0) revert FundFlat(marketId);
        (DistressReason reason, uint256 netNotional) = _distress(mkt, equity, price);
        if (reason == DistressReason.None) revert FundNotDistressed(marketId, equity, drawdown, netNotional);

        uint256 absSize = PerpMath.abs(fundSize);
        uint256 targetSize;
        if (reason == DistressReason.RiskLimit) {
            // Down to the stop line below the risk limit.
            uint256 targetNotional = Math.mulDiv(mkt.params.maxFundNotional, mkt.params.notionalStop, PerpMath.WAD);
            targetSize = PerpMath.min(absSize, PerpMath.priceOf(targetNotional, price, _scale));
        }
        uint256 required = absSize - targetSize;
        uint256 filled = _type2Fills(marketId, mkt, fundSize < 0, price, required);
        if (filled != required) revert InsufficientAdlCapacity(marketId, required, filled);
        _emitFund(marketId, mkt);
    }

    /// @dev Type 2 fills against the ranked counterparties (longs if `cpIsLong`); returns the size filled.
    function _type2Fills(uint256 marketId, Market storage mkt, bool cpIsLong, uint256 price, uint256 required)
        private
        returns (uint256 filled)
    {
        uint256 tradePrice = _fundTradePrice(mkt, price);
        (uint256[] memory keys, address[] memory accounts, uint256 count) =
            _rankedCandidates(marketId, cpIsLong, price);
        for (uint256 r; r < count && filled != required; ++r) {
            uint256 k = AdlRanking.next(keys, r, count);
            address account = accounts[AdlRanking.indexOf(k)];
            Position storage pos = _positions[marketId][account];
            uint256 q = PerpMath.min(required - filled, _adlCapacity(pos, tradePrice, PerpMath.WAD * _scale));
            if (q == 0) continue;
            // Counterparties selling are paid rounded down; buying, they pay rounded up.
            uint256 n = cpIsLong
                ? PerpMath.notionalDown(q, tradePrice, _scale)
                : PerpMath.notionalUp(q, tradePrice, _scale);
            if (!_marginSurvives(pos, q, n)) continue;
            int256 delta = cpIsLong ? -int256(q) : int256(q);
            _fillTrader(marketId, account, delta, n, 0, price);
            _fillFund(mkt, -delta, n);
            filled += q;
            _afterAdlFill(marketId, account, AdlRanking.scoreOf(k), ADL_TYPE_FUND, delta, tradePrice, n, r + 1);
        }
    }

    /// @dev Type 1: the bankrupt position leaves its holder at its bankruptcy notional `nb` (margin ends at zero)
    ///      and is taken, piece by piece at the bankruptcy price, by the ranked counterparties; the fund takes
    ///      what they cannot. Pieces are rounded against the counterparties and the rounding dust goes to the
    ///      fund's cash, so the pieces add up to exactly `nb`. Best-effort: never reverts for lack of capacity.
    function _adlType1(uint256 marketId, Market storage mkt, address account, int256 size, uint256 nb, uint256 price)
        internal
    {
        _fillTrader(marketId, account, -size, nb, 0, price);
        uint256 absSize = PerpMath.abs(size);
        uint256 freeMemory = _freeMemoryPointer();
        (uint256 filled, uint256 pieces) = _type1Fills(marketId, size < 0, absSize, nb, price);
        // The ranking's memory is dead now: release it, so a batch of liquidations does not grow memory
        // (and its quadratic cost) with every Type 1 it runs.
        _resetFreeMemoryPointer(freeMemory);
        if (filled != absSize) {
            uint256 rest = nb > pieces ? nb - pieces : 0;
            int256 restSize = size > 0 ? int256(absSize - filled) : -int256(absSize - filled);
            _fillFund(mkt, restSize, rest);
            pieces += rest;
            emit AdlRemainderToFund(marketId, account, restSize);
        }
        // Bankrupt short: it paid nb, the takers received `pieces` <= nb. Bankrupt long: it received nb, the
        // takers paid `pieces` >= nb. Either way the difference is rounding dust, >= 0, kept by the fund.
        mkt.fundCash += size < 0 ? int256(nb) - int256(pieces) : int256(pieces) - int256(nb);
    }

    /// @dev Type 1 fills of a bankrupt position of `absSize` (bankruptcy notional `nb`) against the ranked
    ///      counterparties (longs if `cpIsLong`); returns the size they took and the notional of their pieces.
    function _type1Fills(uint256 marketId, bool cpIsLong, uint256 absSize, uint256 nb, uint256 price)
        private
        returns (uint256 filled, uint256 pieces)
    {
        uint256 pb = PerpMath.priceOf(nb, absSize, _scale);
        (uint256[] memory keys, address[] memory accounts, uint256 count) =
            _rankedCandidates(marketId, cpIsLong, price);
        for (uint256 r; r < count && filled != absSize; ++r) {
            uint256 k = AdlRanking.next(keys, r, count);
            address account = accounts[AdlRanking.indexOf(k)];
            Position storage pos = _positions[marketId][account];
            uint256 q = PerpMath.min(absSize - filled, _adlCapacity(pos, nb, absSize));
            if (q == 0) continue;
            // Counterparties selling are paid rounded down; buying, they pay rounded up.
            uint256 n = cpIsLong ? Math.mulDiv(nb, q, absSize) : Math.mulDiv(nb, q, absSize, Math.Rounding.Ceil);
            if (!_marginSurvives(pos, q, n)) continue;
            int256 delta = cpIsLong ? -int256(q) : int256(q);
            _fillTrader(marketId, account, delta, n, 0, price);
            filled += q;
            pieces += n;
            _afterAdlFill(marketId, account, AdlRanking.scoreOf(k), ADL_TYPE_BANKRUPT, delta, pb, n, r + 1);
        }
    }

    function _afterAdlFill(
        uint256 marketId,
        address account,
        uint256 score,
        uint8 adlType,
        int256 delta,
        uint256 price,
        uint256 notional,
        uint256 rank
    ) private {
        _bumpOrderEpoch(account);
        emit AdlFill(marketId, account, adlType, delta, price, notional, score, rank);
        _emitPosition(marketId, account);
    }

    function _freeMemoryPointer() private pure returns (uint256 ptr) {
        assembly ("memory-safe") {
            ptr := mload(0x40)
        }
    }

    /// @dev Only called with a value read by `_freeMemoryPointer` earlier in the same call, once nothing
    ///      allocated since is used any more.
    function _resetFreeMemoryPointer(uint256 ptr) private pure {
        assembly ("memory-safe") {
            mstore(0x40, ptr)
        }
    }

    /// @dev One pass over a side: the ranking key of every position with unrealized PnL > 0 at `price`, and the
    ///      side's accounts as they stand now (fills close positions and reorder the storage list).
    function _rankedCandidates(uint256 marketId, bool isLong, uint256 price)
        internal
        view
        returns (uint256[] memory keys, address[] memory accounts, uint256 count)
    {
        address[] storage side = _sideAccounts[marketId][isLong];
        mapping(address => Position) storage positions = _positions[marketId];
        uint256 n = side.length;
        keys = new uint256[](n);
        accounts = new address[](n);
        for (uint256 i; i < n;) {
            address account = side[i];
            accounts[i] = account;
            Position storage pos = positions[account];
            int256 size = pos.size;
            int256 u = _unrealizedPnl(size, pos.openNotional, price);
            if (u > 0) {
                keys[count] =
                    AdlRanking.key(AdlRanking.score(uint256(u), pos.margin), PerpMath.abs(size), pos.openSeq, i);
                unchecked {
                    ++count; // count <= i < n
                }
            }
            unchecked {
                ++i; // i < n
            }
        }
    }

    /// @dev Most a position can be cut when it trades at `priceNum / priceDen` collateral units per size unit
    ///      (Type 1: the bankruptcy notional over the bankrupt size, exactly; Type 2: the price over WAD * scale):
    ///      all of it if closing there realizes no loss, otherwise the size whose realized loss its margin covers,
    ///      with two units kept back for the two roundings of a fill (the piece notional and the released cost).
    function _adlCapacity(Position storage pos, uint256 priceNum, uint256 priceDen) internal view returns (uint256) {
        uint256 absSize = PerpMath.abs(pos.size);
        uint256 cost = PerpMath.abs(pos.openNotional);
        // Loss per size unit, as a fraction over priceDen * absSize: a long sells (loses cost - price), a short
        // buys back (loses price - proceeds).
        uint256 atPrice = priceNum * absSize;
        uint256 atCost = cost * priceDen;
        if (pos.size > 0 ? atCost <= atPrice : atPrice <= atCost) return absSize;
        uint256 lossNum = pos.size > 0 ? atCost - atPrice : atPrice - atCost;
        uint256 margin = pos.margin;
        if (margin <= 2) return 0;
        return PerpMath.min(absSize, Math.mulDiv(margin - 2, priceDen * absSize, lossNum));
    }

    /// @dev Whether cutting `q` for notional `n` leaves the position's margin >= 0 (exact check before the fill).
    function _marginSurvives(Position storage pos, uint256 q, uint256 n) internal view returns (bool) {
        (,,, int256 pnl) = _reduction(pos.size, pos.openNotional, q, n);
        return int256(uint256(pos.margin)) + pnl >= 0;
    }

    /// @dev Type 2 price: mark, capped at the fund's bankruptcy price so that its cash never goes negative
    ///      (a long fund sells no lower than where its equity is zero; a short fund buys no higher).
    ///      A fund whose cash is already negative (bad debt no counterparty could take) trades at mark: no price
    ///      keeps its cash >= 0 then, and a cap would hand counterparties up to their whole position (a short
    ///      fund's cap would reach zero), far beyond the fund's own entry.
    function _fundTradePrice(Market storage mkt, uint256 mark) internal view returns (uint256) {
        if (mkt.fundCash < 0) return mark;
        int256 size = mkt.fundSize;
        uint256 absSize = PerpMath.abs(size);
        if (size > 0) {
            int256 owed = mkt.fundOpenNotional - mkt.fundCash;
            if (owed <= 0) return mark;
            uint256 pfb = Math.mulDiv(uint256(owed), PerpMath.WAD * _scale, absSize, Math.Rounding.Ceil);
            return pfb > mark ? pfb : mark;
        }
        int256 covered = mkt.fundCash - mkt.fundOpenNotional;
        uint256 pfbShort = covered > 0 ? PerpMath.priceOf(uint256(covered), absSize, _scale) : 0;
        return pfbShort < mark ? pfbShort : mark;
    }
}
