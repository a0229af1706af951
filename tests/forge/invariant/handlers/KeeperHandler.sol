// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm, Vm} from "../../utils/Vm.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {HandlerBase} from "./HandlerBase.sol";
import {World} from "../World.sol";
import {SpecBook} from "../SpecBook.sol";
import {Position, MarketParams, PositionState} from "../../../../interfaces/IPerpetualTypes.sol";
import {IPerpetualEvents, IPerpetualErrors} from "../../../../interfaces/IPerpetual.sol";
import {PerpLens} from "../../../../contracts/PerpLens.sol";

/// @title KeeperHandler
/// @notice Keepers: single and batched liquidation, a full keeper pass (every liquidatable position, then Type 2
///         while the fund is distressed), `deleverageFund` and `pokeFund`. Every call is checked as it happens:
///         the ADL fills against the SPEC's queue order (SpecBook), counterparties solvent after their fill,
///         bystanders untouched, Type 2 all-or-nothing, the fund's cash below zero only by the documented path;
///         and it counts the states it reached.
contract KeeperHandler is HandlerBase {
    constructor(World world_) HandlerBase(world_) {}

    struct FundSnap {
        int256 cash;
        int256 size;
        int256 openNotional;
        bool latch;
    }

    /// @dev The fund as a call now values it: its cost basis with what it owes its side's index settled, the
    ///      funding accrued to this second included (every keeper call accrues and settles before it acts).
    function _fund(uint256 m) internal view returns (FundSnap memory f) {
        (f.cash, f.size, f.openNotional,,, f.latch) = perp.fundAccount(m);
        (,,,, int256 snapshot,) = perp.marketIndex(m);
        (,,,,, int256 longNow, int256 shortNow) = perp.fundingState(m);
        Position memory asPos;
        asPos.size = int128(f.size);
        asPos.openNotional = int128(f.openNotional);
        asPos.indexSnapshot = int104(snapshot);
        f.openNotional = _settledOn(asPos, f.size > 0 ? longNow : shortNow);
    }

    function _latchMoves(FundSnap memory before, uint256 m) internal {
        bool latch = _fund(m).latch;
        if (!before.latch && latch) world.hit("latch_set");
        if (before.latch && !latch) world.hit("latch_cleared");
    }

    // ------------------------------------------------------------------ liquidation

    function liquidate(uint256 who, uint256 market) external {
        uint256 index = _marketIndex(market);
        if (!_hasPrice(index)) return;
        _liquidateChecked(index, _trader(who));
    }

    function liquidateBatch(uint256 market) external {
        uint256 index = _marketIndex(market);
        if (!_hasPrice(index)) return;
        address[] memory list = new address[](6);
        for (uint256 i; i < 6; ++i) {
            list[i] = world.traders(i);
        }
        (address[] memory flat, uint256[] memory free) = _flatBalances();
        FundSnap memory before = _fund(index + 1);
        vm.recordLogs();
        vm.prank(world.keeper());
        try perp.liquidateBatch(index + 1, list) returns (uint256) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            _countLiquidations(logs, index + 1);
            Fill[] memory fills = _fills(logs, index + 1);
            world.hitN("type1_fill", fills.length);
            _checkCounterpartiesSolvent(fills, index, "batch type 1");
            _checkBystanders(flat, free, "liquidateBatch");
            _checkFundCash(before, logs, index);
            _latchMoves(before, index + 1);
        } catch {
            vm.getRecordedLogs();
        }
    }

    /// @notice Every liquidatable position of a market (in rounds, until a round liquidates nothing), then Type 2
    ///         while the fund is in distress; afterwards no trader there may have negative equity (checked by the
    ///         invariant while no price has moved since).
    function keeperPass(uint256 market) external {
        uint256 index = _marketIndex(market);
        if (!_hasPrice(index)) return;
        // Rounds until one liquidates nothing: a liquidation's socialized loss (the waterfall's last layer) lowers the
        // equity of every position on the side that gained, so a position found healthy earlier in the round can be
        // liquidatable, or bankrupt, after a later one (each liquidation closes a position: at most 6 rounds do work).
        for (bool again = true; again;) {
            again = false;
            for (uint256 i; i < 6; ++i) {
                address a = world.traders(i);
                if (perp.getPosition(index + 1, a).size == 0) continue;
                PerpLens.PositionView memory v = lens.positionInfo(index + 1, a);
                if (v.state >= PositionState.Liquidatable) {
                    _liquidateChecked(index, a);
                    if (perp.getPosition(index + 1, a).size == 0) again = true;
                }
            }
        }
        for (uint256 i; i < 3; ++i) {
            (,,,,, bool distressed) = perp.fundAccount(index + 1);
            if (!distressed || _fund(index + 1).size == 0) break;
            _deleverageChecked(index);
        }
        world.setKeeperPassed(index);
    }

    function _liquidateChecked(uint256 index, address a) internal {
        uint256 m = index + 1;
        Position memory p = perp.getPosition(m, a);
        if (p.size == 0) return;
        uint256 mark = _mark(index);
        SpecBook.Entry[] memory book = _book(index, p.size < 0, mark);
        (address[] memory flat, uint256[] memory free) = _flatBalances();
        FundSnap memory before = _fund(m);
        vm.recordLogs();
        vm.prank(world.keeper());
        try perp.liquidate(m, a) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            uint256 pb = _countLiquidations(logs, m);
            _checkRiskLimit(before, logs, index, mark);
            Fill[] memory fills = _fills(logs, m);
            if (fills.length != 0) {
                world.hitN("type1_fill", fills.length);
                _checkOrder(book, fills, pb, "type 1");
                _checkCounterpartiesSolvent(fills, index, "type 1");
            }
            _checkBystanders(flat, free, "liquidate");
            _checkFundCash(before, logs, index);
            _latchMoves(before, m);
            if (perp.getPosition(m, a).size != 0) world.violate("liquidated position still open");
        } catch {
            vm.getRecordedLogs();
        }
    }

    /// @dev Counts what a liquidation call reached; returns the Type 1 price of the last liquidation: its bankruptcy
    ///      price when it was bankrupt, mark when it still had equity (README: no windfall for the counterparties).
    function _countLiquidations(Vm.Log[] memory logs, uint256 m) internal returns (uint256 pb) {
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory l = logs[i];
            if (l.topics.length < 2 || uint256(l.topics[1]) != m) continue;
            bytes32 t = l.topics[0];
            if (t == IPerpetualEvents.Liquidated.selector) {
                (, uint256 markPrice, uint256 bankruptcyPrice, int256 equity,) =
                    abi.decode(l.data, (int256, uint256, uint256, int256, uint256));
                pb = equity > 0 ? markPrice : bankruptcyPrice;
                if (equity < 0) world.hit("bankrupt_liquidated");
            } else if (t == IPerpetualEvents.FundAccepted.selector) {
                world.hit("liquidation_accepted");
            } else if (t == IPerpetualEvents.FundRefused.selector) {
                uint8 reason = abi.decode(l.data, (uint8));
                world.hit(reason == 1 ? "refused_negative_equity" : reason == 2 ? "refused_risk_limit" : "refused_drawdown");
            } else if (t == IPerpetualEvents.AdlRemainderToFund.selector) {
                world.hit("type1_remainder_to_fund");
            }
        }
    }

    /// @dev A fund that accepted a position is within its risk limit afterwards, or no further beyond it than before.
    function _checkRiskLimit(FundSnap memory before, Vm.Log[] memory logs, uint256 index, uint256 mark) internal {
        bool accepted;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length > 1 && logs[i].topics[0] == IPerpetualEvents.FundAccepted.selector) accepted = true;
        }
        if (!accepted) return;
        (,, MarketParams memory params,) = perp.marketInfo(index + 1);
        uint256 d = 1e18 * scale;
        int256 sizeAfter = _fund(index + 1).size;
        uint256 netAfter = Math.mulDiv(sizeAfter >= 0 ? uint256(sizeAfter) : uint256(-sizeAfter), mark, d, Math.Rounding.Ceil);
        uint256 netBefore = Math.mulDiv(before.size >= 0 ? uint256(before.size) : uint256(-before.size), mark, d, Math.Rounding.Ceil);
        if (netAfter > params.maxFundNotional && netAfter > netBefore) world.violate("fund accepted a position past its risk limit");
    }

    /// @dev The fund's cash may go below zero only through the one documented case: a Type 1 whose loss could not be
    ///      spread because the market was left with no open interest (`LossUnsocialized`; README, "The loss
    ///      waterfall"). A loss spread over a side (`LossSocialized`) is counted as reached.
    function _checkFundCash(FundSnap memory before, Vm.Log[] memory logs, uint256 index) internal {
        bool unsocialized;
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory l = logs[i];
            if (l.topics.length < 2 || uint256(l.topics[1]) != index + 1) continue;
            if (l.topics[0] == IPerpetualEvents.LossUnsocialized.selector) unsocialized = true;
            else if (l.topics[0] == IPerpetualEvents.LossSocialized.selector) world.hit("loss_socialized");
        }
        int256 cash = _fund(index + 1).cash;
        if (cash >= 0) {
            world.setDocumentedNegativeCash(index, false);
            return;
        }
        if (cash >= before.cash) return; // no new loss below zero
        if (unsocialized) world.setDocumentedNegativeCash(index, true);
        else world.violate(string.concat("fund cash went below zero without LossUnsocialized: ", vm.toString(cash)));
    }

    // ------------------------------------------------------------------ Type 2

    function deleverageFund(uint256 market) external {
        uint256 index = _marketIndex(market);
        if (!_hasPrice(index)) return;
        _deleverageChecked(index);
    }

    /// @dev The Type 2 price as README states it: mark, capped at the fund's bankruptcy price (a long fund sells no
    ///      lower, a short fund buys no higher), except that a fund already short of cash trades at mark.
    function _type2Price(FundSnap memory f, uint256 mark) internal view returns (uint256) {
        if (f.cash < 0) return mark;
        uint256 abs = f.size > 0 ? uint256(f.size) : uint256(-f.size);
        uint256 d = 1e18 * scale;
        if (f.size > 0) {
            int256 owed = f.openNotional - f.cash;
            if (owed <= 0) return mark;
            uint256 pfb = Math.mulDiv(uint256(owed), d, abs, Math.Rounding.Ceil);
            return pfb > mark ? pfb : mark;
        }
        int256 covered = f.cash - f.openNotional;
        uint256 pfbShort = covered > 0 ? Math.mulDiv(uint256(covered), d, abs) : 0;
        return pfbShort < mark ? pfbShort : mark;
    }

    function _deleverageChecked(uint256 index) internal {
        uint256 m = index + 1;
        uint256 mark = _mark(index);
        FundSnap memory before = _fund(m);
        SpecBook.Entry[] memory book = _book(index, before.size < 0, mark);
        (address[] memory flat, uint256[] memory free) = _flatBalances();
        bytes32 digestBefore = _digest();
        vm.recordLogs();
        vm.prank(world.keeper());
        try perp.deleverageFund(m) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            Fill[] memory fills = _fills(logs, m);
            world.hitN("type2_fill", fills.length);
            uint256 filled = _checkOrder(book, fills, _type2Price(before, mark), "type 2");
            _checkCounterpartiesSolvent(fills, index, "type 2");
            _checkBystanders(flat, free, "deleverageFund");
            FundSnap memory afterF = _fund(m);
            uint256 absBefore = before.size > 0 ? uint256(before.size) : uint256(-before.size);
            uint256 absAfter = afterF.size > 0 ? uint256(afterF.size) : uint256(-afterF.size);
            if (absBefore - absAfter != filled) world.violate("type 2: fund size moved by other than its fills");
            // all-or-nothing: the fund ends exactly at its target (SPEC 6, README "Type 2 ADL"): flat when its
            // equity is negative or the drawdown latch is set, else down to maxFundNotional * notionalStop
            (,, MarketParams memory params,) = perp.marketInfo(m);
            uint256 target;
            if (before.cash + _uPnl(before, mark) >= 0 && !afterF.latch) {
                uint256 targetNotional = Math.mulDiv(params.maxFundNotional, params.notionalStop, 1e18);
                target = Math.mulDiv(targetNotional, 1e18 * scale, mark);
                if (target > absBefore) target = absBefore;
            }
            if (absAfter != target) {
                world.violate(string.concat("type 2 ended at ", vm.toString(absAfter), " instead of its target ", vm.toString(target)));
            }
            if (before.cash >= 0 && afterF.cash < 0) world.violate("type 2 left the fund's cash below zero");
            _latchMoves(before, m);
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_digest() != digestBefore) world.violate("a reverted Type 2 changed state");
            bytes4 sel = bytes4(err);
            if (sel == IPerpetualErrors.InsufficientAdlCapacity.selector) world.hit("type2_revert_capacity");
            else if (sel == IPerpetualErrors.FundNotDistressed.selector) world.hit("type2_revert_not_distressed");
            else if (sel == IPerpetualErrors.FundFlat.selector) world.hit("type2_revert_flat");
        }
    }

    /// @dev The fund's unrealized PnL at `mark`, rounded against the fund, in collateral units (`f` as settled).
    function _uPnl(FundSnap memory f, uint256 mark) internal view returns (int256) {
        int256 uD = SpecBook.uTimesD(f.size, f.openNotional, mark, scale, 0, 0);
        int256 d = int256(1e18 * scale);
        return uD >= 0 ? uD / d : -((-uD + d - 1) / d);
    }

    function pokeFund(uint256 market) external {
        uint256 index = _marketIndex(market);
        if (!_hasPrice(index)) return;
        FundSnap memory before = _fund(index + 1);
        perp.pokeFund(index + 1);
        _latchMoves(before, index + 1);
    }
}
