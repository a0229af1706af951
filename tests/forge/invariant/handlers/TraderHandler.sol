// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "../../utils/Vm.sol";
import {HandlerBase} from "./HandlerBase.sol";
import {World} from "../World.sol";
import {SpecBook} from "../SpecBook.sol";
import {Orders} from "../../utils/Orders.sol";
import {Perpetual} from "../../../../contracts/Perpetual.sol";
import {IPerpetualErrors} from "../../../../interfaces/IPerpetual.sol";
import {Order, Match, Position, MarketParams} from "../../../../interfaces/IPerpetualTypes.sol";

/// @title TraderHandler
/// @notice Traders: deposits, withdrawals, trades through real EIP-712 orders signed with `vm.sign` (partial fills
///         leave resting orders that later calls fill or cancel), reduce-only closes, cancellations, margin moves.
///         A failing call is fine (the fuzzer explores); what must always work is asserted as a violation.
contract TraderHandler is HandlerBase {
    uint256 private _nonce;

    constructor(World world_) HandlerBase(world_) {}

    // ------------------------------------------------------------------ vault

    function deposit(uint256 who, uint256 amount) external {
        amount = _pick(amount, 1, 20_000 * world.one());
        world.deposit(_trader(who), amount);
    }

    /// @notice Withdraws part or all of a trader's free collateral. SPEC invariant 9: free collateral can always be
    ///         withdrawn, so a revert here is a violation.
    function withdraw(uint256 who, uint256 amount, bool all) external {
        address a = _trader(who);
        uint256 free = perp.freeCollateral(a);
        if (free == 0) return;
        amount = all ? free : _pick(amount, 1, free);
        vm.prank(a);
        try perp.withdraw(amount) {
            world.noteWithdrawal(amount);
            world.hit("withdrawal");
        } catch {
            world.violate(string.concat("withdrawal of free collateral reverted for ", vm.toString(a)));
        }
    }

    function addMargin(uint256 who, uint256 market, uint256 amount) external {
        address a = _trader(who);
        uint256 free = perp.freeCollateral(a);
        if (free == 0) return;
        vm.prank(a);
        try perp.addMargin(_marketIndex(market) + 1, _pick(amount, 1, free)) {} catch {}
    }

    function removeMargin(uint256 who, uint256 market, uint256 amount) external {
        address a = _trader(who);
        uint256 m = _marketIndex(market) + 1;
        uint256 margin = perp.getPosition(m, a).margin;
        if (margin == 0) return;
        vm.prank(a);
        try perp.removeMargin(m, _pick(amount, 1, margin)) {
            world.hit("margin_removed");
            // unrealized profit never backs a removal: a position in profit keeps at least its initial margin
            Position memory p = perp.getPosition(m, a);
            uint256 mark = _mark(m - 1);
            int256 uD = SpecBook.uTimesD(p.size, p.openNotional, mark, scale, _sideIndex(m, p.size > 0), p.indexSnapshot);
            if (uD > 0) {
                (,, MarketParams memory params,) = perp.marketInfo(m);
                uint256 absSize = p.size >= 0 ? uint256(int256(p.size)) : uint256(-int256(p.size));
                uint256 imD = absSize * mark / 1e18 * params.imr; // IM * D, rounded down (the contract rounds up)
                if (uint256(p.margin) * 1e18 * scale < imD) world.violate("margin removed against unrealized profit");
            }
        } catch {}
    }

    // ------------------------------------------------------------------ orders

    function _sign(uint256 traderIndex, Order memory o) internal view returns (bytes memory) {
        return Orders.sign(world.keyOf(traderIndex), address(perp), o);
    }

    function _order(
        uint256 traderIndex,
        uint256 m,
        bool isBuy,
        uint256 size,
        uint256 limit,
        uint256 leverage,
        bool ro,
        bool isMaker
    ) internal returns (Order memory o) {
        address a = world.traders(traderIndex);
        o = Order({
            account: a,
            marketId: m,
            isBuy: isBuy,
            size: size,
            limitPrice: limit,
            leverage: leverage,
            reduceOnly: ro,
            isMaker: isMaker,
            nonce: ++_nonce,
            epoch: perp.orderEpoch(a),
            expiry: block.timestamp + 1 days
        });
    }

    function _maxLeverage(uint256 m) internal view returns (uint256) {
        (,, MarketParams memory p,) = perp.marketInfo(m);
        return p.maxLeverage;
    }

    /// @notice A matched pair between two different traders: size worth 100..40,000 tokens, price within 1% of
    ///         mark, each side's leverage from 1x to the market's maximum. With `partial`, the maker's order is two
    ///         to four times the fill and rests for later fills.
    function trade(uint256 seed, uint256 sizeSeed, uint256 priceSeed, uint256 levSeed) external {
        uint256 index = _marketIndex(seed);
        if (!_hasPrice(index)) return;
        uint256 m = index + 1;
        uint256 makerIndex = (seed >> 8) % 6;
        uint256 takerIndex = (makerIndex + 1 + (seed >> 16) % 5) % 6;
        bool makerBuys = (seed >> 24) & 1 == 1;
        bool partialFill = (seed >> 25) & 1 == 1;
        uint256 mark = _mark(index);
        uint256 fillSize = _pick(sizeSeed, 100, 40_000) * 1e36 / mark; // WAD size worth 100..40,000 at mark
        if (fillSize == 0) return;
        uint256 fillPrice = mark - mark / 100 + _pick(priceSeed, 0, mark / 50);
        uint256 maxLev = _maxLeverage(m);
        Order memory maker = _order(
            makerIndex, m, makerBuys, partialFill ? fillSize * (2 + (seed >> 26) % 3) : fillSize,
            makerBuys ? type(uint128).max : 0, _pick(levSeed, 1e18, maxLev), false, true
        );
        Order memory taker = _order(
            takerIndex, m, !makerBuys, fillSize, makerBuys ? 0 : type(uint128).max, _pick(levSeed >> 64, 1e18, maxLev), false,
            false
        );
        bytes memory makerSig = _sign(makerIndex, maker);
        Match memory x = Match(maker, makerSig, taker, _sign(takerIndex, taker), fillSize, fillPrice, address(0), address(0));
        vm.prank(world.traders(takerIndex));
        try perp.settle(x) {
            world.hit("trade");
            if (partialFill) {
                world.hit("partial_fill");
                world.addResting(maker, makerSig);
            }
        } catch {}
    }

    /// @notice Fills (part of) a resting order against a new order of another trader.
    function fillResting(uint256 idx, uint256 takerSeed, uint256 sizeSeed) external {
        uint256 n = world.restingCount();
        if (n == 0) return;
        (Order memory maker, bytes memory sig) = world.resting(idx % n);
        uint256 index = maker.marketId - 1;
        if (!_hasPrice(index)) return;
        uint256 done = _filled(maker);
        if (done >= maker.size) return; // filled, or cancelled (type(uint256).max)
        uint256 left = maker.size - done;
        uint256 makerIndex = _indexOf(maker.account);
        uint256 takerIndex = (makerIndex + 1 + takerSeed % 5) % 6;
        uint256 minFill = _minFillSize(maker.marketId);
        // one draw in eight tries a dust piece below the market's minimum fill (refused unless it completes the order)
        uint256 fill = (sizeSeed >> 128) % 8 == 0 && minFill > 1 ? _pick(sizeSeed, 1, minFill - 1) : _pick(sizeSeed, 1, left);
        if (fill > left) fill = left;
        Order memory taker = _order(
            takerIndex, maker.marketId, !maker.isBuy, fill, maker.isBuy ? 0 : type(uint128).max,
            _pick(takerSeed >> 8, 1e18, _maxLeverage(maker.marketId)), false, false
        );
        Match memory x = Match(maker, sig, taker, _sign(takerIndex, taker), fill, _mark(index), address(0), address(0));
        vm.prank(world.traders(takerIndex));
        try perp.settle(x) {
            if (fill < minFill && fill != left) world.violate("a fill below the minimum that leaves the order open");
            world.hit("resting_fill");
        } catch (bytes memory reason) {
            // (a dust piece may fail an earlier check first, such as NotionalTooSmall)
            if (fill < minFill && fill != left && bytes4(reason) == IPerpetualErrors.FillBelowMinimum.selector) {
                world.hit("fill_below_minimum");
            }
        }
    }

    function _minFillSize(uint256 m) internal view returns (uint256) {
        (,, MarketParams memory p,) = perp.marketInfo(m);
        return p.minFillSize;
    }

    /// @notice Closes (part of) a trader's position with a reduce-only order against another trader.
    function close(uint256 who, uint256 market, uint256 fraction) external {
        uint256 index = _marketIndex(market);
        if (!_hasPrice(index)) return;
        uint256 m = index + 1;
        uint256 ti = who % 6;
        Position memory p = perp.getPosition(m, world.traders(ti));
        if (p.size == 0) return;
        uint256 abs = p.size > 0 ? uint256(int256(p.size)) : uint256(-int256(p.size));
        uint256 size = fraction % 4 == 0 ? abs : _pick(fraction, 1, abs);
        uint256 ci = (ti + 1 + (fraction >> 8) % 5) % 6;
        bool closerBuys = p.size < 0;
        Order memory closer = _order(ti, m, closerBuys, size, closerBuys ? type(uint128).max : 0, 1e18, true, false);
        Order memory other = _order(
            ci, m, !closerBuys, size, closerBuys ? 0 : type(uint128).max, _pick(fraction >> 16, 1e18, _maxLeverage(m)), false,
            true
        );
        Match memory x = Match(other, _sign(ci, other), closer, _sign(ti, closer), size, _mark(index), address(0), address(0));
        vm.prank(world.traders(ti));
        try perp.settle(x) {
            world.hit("trade");
        } catch {}
    }

    function cancelResting(uint256 idx) external {
        uint256 n = world.restingCount();
        if (n == 0) return;
        (Order memory o,) = world.resting(idx % n);
        vm.prank(o.account);
        try perp.cancelOrder(o) {} catch {}
    }

    function cancelAll(uint256 who) external {
        vm.prank(_trader(who));
        perp.cancelAllOrders();
    }

    function _filled(Order memory o) internal view returns (uint256) {
        return Perpetual(address(perp)).filledAmount(perp.hashOrder(o));
    }

    function _indexOf(address a) internal view returns (uint256) {
        for (uint256 i; i < 6; ++i) {
            if (world.traders(i) == a) return i;
        }
        revert("not a trader");
    }
}
