// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarketParams, Position, PositionState} from "../interfaces/IPerpetualTypes.sol";
import {PerpMath} from "./libraries/PerpMath.sol";
import {AdlRanking} from "./libraries/AdlRanking.sol";
import {IPerpetual, IPerpetualErrors} from "../interfaces/IPerpetual.sol";
import {PerpStorage} from "./base/PerpStorage.sol";

/// @title PerpLens
/// @notice Read-only views over a `Perpetual` deployment, valued at the current mark price with the protocol's
///         own math (`PerpMath`, `AdlRanking`): a position's SPEC figures and state, the fund's equity and
///         drawdown, the ADL queue indicator, and batched reads of many positions in one call.
/// @dev Every read goes to the `Perpetual` address through `IPerpetual`, whichever part implements it.
contract PerpLens {
    /// @notice A position valued at mark.
    struct PositionView {
        address account;
        int256 size;
        int256 openNotional;
        uint256 margin;
        uint256 entryPrice;
        uint256 notional;
        int256 unrealizedPnl;
        int256 equity;
        uint256 bankruptcyPrice;
        PositionState state;
        uint64 openSeq;
    }

    /// @notice The insurance fund valued at mark.
    struct FundView {
        int256 cash;
        int256 size;
        int256 openNotional;
        int256 equity;
        uint256 netNotional;
        int256 highWaterMark;
        uint256 drawdown;
        bool distressed;
    }

    /// @notice What Type 2 would do now (`IPerpetualRisk.previewDeleverageFund`): whether it would succeed, why the
    ///         fund is in distress (`DistressReason`: 0 none), its equity and drawdown after the call's sample, the
    ///         Type 2 price, the size it must offset, the size the ranked counterparties can take at that price in
    ///         one call, and whether one call's work bound is what stops it (then `deleverageFund(m, maxSize)`).
    struct Type2View {
        bool wouldSucceed;
        uint8 distressReason;
        int256 equity;
        uint256 drawdown;
        uint256 price;
        uint256 requiredSize;
        uint256 availableSize;
        bool outOfWork;
    }

    IPerpetual public immutable perp;
    uint256 internal immutable _scale;

    constructor(IPerpetual perp_) {
        perp = perp_;
        _scale = 10 ** (18 - uint256(PerpStorage(address(perp_)).collateralDecimals()));
    }

    /// @notice A position valued at the current mark price (SPEC section 3).
    function positionInfo(uint256 marketId, address account) public view returns (PositionView memory v) {
        (,, MarketParams memory params,) = perp.marketInfo(marketId);
        return _view(params, perp.markPrice(marketId), _indices(marketId), account, perp.getPosition(marketId, account));
    }

    /// @notice Many positions valued at mark in one call (accounts without a position come back with size 0).
    function positionsInfo(uint256 marketId, address[] calldata accounts)
        external
        view
        returns (PositionView[] memory views)
    {
        (,, MarketParams memory params,) = perp.marketInfo(marketId);
        uint256 price = perp.markPrice(marketId);
        int256[2] memory idx = _indices(marketId);
        views = new PositionView[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            views[i] = _view(params, price, idx, accounts[i], perp.getPosition(marketId, accounts[i]));
        }
    }

    /// @notice Every open position of a market (both sides) valued at mark. For large markets use `positionsPage`.
    function allPositions(uint256 marketId) external view returns (PositionView[] memory views) {
        (PositionView[] memory longs,) = positionsPage(marketId, true, address(0), type(uint256).max);
        (PositionView[] memory shorts,) = positionsPage(marketId, false, address(0), type(uint256).max);
        views = new PositionView[](longs.length + shorts.length);
        for (uint256 i; i < longs.length; ++i) {
            views[i] = longs[i];
        }
        for (uint256 i; i < shorts.length; ++i) {
            views[longs.length + i] = shorts[i];
        }
    }

    /// @notice Up to `count` positions of one side after account `after_` (address(0): from the start), valued at
    ///         mark, and the account to pass as `after_` for the next page (address(0) at the end). `count` may be
    ///         `type(uint256).max` ("to the end").
    function positionsPage(uint256 marketId, bool isLong, address after_, uint256 count)
        public
        view
        returns (PositionView[] memory views, address next)
    {
        (,, MarketParams memory params,) = perp.marketInfo(marketId);
        uint256 price = perp.markPrice(marketId);
        address[] memory accounts;
        Position[] memory positions;
        (accounts, positions, next) = perp.sidePositions(marketId, isLong, after_, count);
        int256[2] memory idx = _indices(marketId);
        views = new PositionView[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            views[i] = _view(params, price, idx, accounts[i], positions[i]);
        }
    }

    /// @notice Open interest of a market: the sums of long and of short sizes, insurance fund included, summed from
    ///         the positions (`IPerpetualCore.marketIndex` has the protocol's own running sum). A balanced book has
    ///         them equal.
    function openInterest(uint256 marketId) external view returns (uint256 longs, uint256 shorts) {
        for (uint256 side; side < 2; ++side) {
            (, Position[] memory positions,) = perp.sidePositions(marketId, side == 0, address(0), type(uint256).max);
            uint256 total;
            for (uint256 i; i < positions.length; ++i) {
                total += PerpMath.abs(positions[i].size);
            }
            if (side == 0) longs = total;
            else shorts = total;
        }
        (, int256 fundSize,,,,) = perp.fundAccount(marketId);
        if (fundSize > 0) longs += uint256(fundSize);
        else shorts += uint256(-fundSize);
    }

    /// @notice Free collateral of many accounts in one call.
    function freeCollaterals(address[] calldata accounts) external view returns (uint256[] memory balances) {
        balances = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            balances[i] = perp.freeCollateral(accounts[i]);
        }
    }

    /// @notice The market's insurance fund at the current mark price.
    function fundState(uint256 marketId) external view returns (FundView memory f) {
        uint256 price = perp.markPrice(marketId);
        (f.cash, f.size, f.openNotional, f.highWaterMark,, f.distressed) = perp.fundAccount(marketId);
        (,,,, int256 snapshot,) = perp.marketIndex(marketId);
        int256[2] memory idx = _indices(marketId);
        f.openNotional = _settled(f.size, f.openNotional, idx[f.size > 0 ? 0 : 1], snapshot);
        f.equity = f.cash + PerpMath.unrealizedPnl(f.size, f.openNotional, price, _scale);
        f.netNotional = PerpMath.notionalUp(PerpMath.abs(f.size), price, _scale);
        f.drawdown = PerpMath.drawdown(f.highWaterMark, f.equity);
    }

    /// @notice The Type 2 outlook of a market's fund (a risk desk's view): call with eth_call; it runs the real
    ///         `deleverageFund` inside `previewDeleverageFund`, which always reverts, so nothing changes and the
    ///         figures are exactly the call's. Other reverts (an unusable oracle, an unknown market) are passed on.
    function type2Preview(uint256 marketId) external returns (Type2View memory v) {
        try perp.previewDeleverageFund(marketId, type(uint256).max) {}
        catch (bytes memory data) {
            if (data.length < 4 || bytes4(data) != IPerpetualErrors.Type2Preview.selector) {
                assembly {
                    revert(add(data, 32), mload(data))
                }
            }
            assembly {
                let len := mload(data)
                data := add(data, 4)
                mstore(data, sub(len, 4))
            }
            (, v.distressReason, v.equity, v.drawdown, v.price, v.requiredSize, v.availableSize, v.outOfWork) =
                abi.decode(data, (uint256, uint8, int256, uint256, uint256, uint256, uint256, bool));
            v.wouldSucceed = v.requiredSize != 0 && v.availableSize == v.requiredSize;
        }
    }

    /// @notice Queue indicator of a position: its score (WAD), its rank among the eligible positions on its side
    ///         (1 = deleveraged first; 0 = not eligible, u <= 0), how many are eligible, and a 1-5 lights bucket
    ///         by percentile (5 = front of the queue; 0 = not eligible). Exact order (`AdlRanking.ahead`); reads the
    ///         whole side, so for very large markets call it with a node's gas cap in mind.
    function adlQueue(uint256 marketId, address account)
        external
        view
        returns (uint256 score, uint256 rank, uint256 eligible, uint8 lights)
    {
        Position memory pos = perp.getPosition(marketId, account);
        if (pos.size == 0) return (0, 0, 0, 0);
        uint256 price = perp.markPrice(marketId);
        uint256 d = PerpMath.WAD * _scale;
        int256 index = _indices(marketId)[pos.size > 0 ? 0 : 1];
        (address[] memory accounts, Position[] memory side,) =
            perp.sidePositions(marketId, pos.size > 0, address(0), type(uint256).max);
        (bool mineEligible, AdlRanking.Candidate memory mine) = _candidate(account, pos, price, d, index);
        uint256 better;
        for (uint256 i; i < side.length; ++i) {
            (bool ok, AdlRanking.Candidate memory c) = _candidate(accounts[i], side[i], price, d, index);
            if (!ok) continue;
            ++eligible;
            if (mineEligible && accounts[i] != account && AdlRanking.ahead(c, mine)) ++better;
        }
        if (!mineEligible) return (0, 0, eligible, 0);
        rank = better + 1;
        return (AdlRanking.score(mine.uD, mine.margin, d), rank, eligible, AdlRanking.lights(rank, eligible));
    }

    function _candidate(address account, Position memory pos, uint256 price, uint256 d, int256 index)
        private
        pure
        returns (bool eligible, AdlRanking.Candidate memory c)
    {
        int256 uD = AdlRanking.uTimesD(pos.size, pos.openNotional, price, d, index, pos.indexSnapshot);
        if (uD <= 0) return (false, c);
        return (true, AdlRanking.candidate(account, uint256(uD), pos.margin, PerpMath.abs(pos.size), pos.openSeq, d));
    }

    /// @dev Each side's cumulative index as a touch now would leave it (funding accrued to this second): [long, short].
    function _indices(uint256 marketId) private view returns (int256[2] memory idx) {
        (,,,,, idx[0], idx[1]) = perp.fundingState(marketId);
    }

    /// @dev A cost basis with what it owes its side's index since `snapshot` settled (as the protocol settles it on
    ///      the position's next touch: rounded against the holder).
    function _settled(int256 size, int256 openNotional, int256 index, int256 snapshot) private view returns (int256) {
        if (size == 0 || index == snapshot) return openNotional;
        return openNotional + PerpMath.mulDivSignedCeil(index - snapshot, PerpMath.abs(size), PerpMath.WAD * _scale);
    }

    function _view(MarketParams memory p, uint256 price, int256[2] memory idx, address account, Position memory pos)
        private
        view
        returns (PositionView memory v)
    {
        v.account = account;
        if (pos.size == 0) return v;
        uint256 absSize = PerpMath.abs(pos.size);
        v.size = pos.size;
        // valued as settled: what it owes its side's index counts in its cost basis, PnL, equity and bankruptcy price
        pos.openNotional = int128(_settled(pos.size, pos.openNotional, idx[pos.size > 0 ? 0 : 1], pos.indexSnapshot));
        v.openNotional = pos.openNotional;
        v.margin = pos.margin;
        v.openSeq = pos.openSeq;
        v.entryPrice = PerpMath.priceOf(PerpMath.abs(pos.openNotional), absSize, _scale);
        v.notional = PerpMath.notionalUp(absSize, price, _scale);
        v.unrealizedPnl = PerpMath.unrealizedPnl(pos.size, pos.openNotional, price, _scale);
        v.equity = int256(v.margin) + v.unrealizedPnl;
        v.bankruptcyPrice =
            PerpMath.priceOf(PerpMath.bankruptcyNotional(pos.size, pos.openNotional, pos.margin), absSize, _scale);
        v.state = _state(p, v.equity, v.notional);
    }

    /// @dev Graduated health: Healthy >= IM > ReduceOnly >= notional*mcr > MarginCall >= MM > Liquidatable >= 0 > Bankrupt.
    function _state(MarketParams memory p, int256 equity, uint256 notional) private pure returns (PositionState) {
        if (equity < 0) return PositionState.Bankrupt;
        uint256 e = uint256(equity);
        if (e < PerpMath.wadMulUp(notional, p.mmr)) return PositionState.Liquidatable;
        if (e < PerpMath.wadMulUp(notional, p.mcr)) return PositionState.MarginCall;
        if (e < PerpMath.wadMulUp(notional, p.imr)) return PositionState.ReduceOnly;
        return PositionState.Healthy;
    }
}
