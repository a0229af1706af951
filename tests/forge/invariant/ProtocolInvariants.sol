// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "../utils/Vm.sol";
import {TestBase} from "../utils/TestBase.sol";
import {World} from "./World.sol";
import {SpecBook} from "./SpecBook.sol";
import {TraderHandler} from "./handlers/TraderHandler.sol";
import {KeeperHandler} from "./handlers/KeeperHandler.sol";
import {OracleHandler, FundHandler, AdminHandler} from "./handlers/MarketHandlers.sol";
import {IPerpetual} from "../../../interfaces/IPerpetual.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AdlQueue} from "../../../contracts/libraries/AdlQueue.sol";
import {Position} from "../../../interfaces/IPerpetualTypes.sol";

/// @title ProtocolInvariants
/// @notice The protocol's promises (README "The mechanism", SPEC section 7) as Foundry invariants over random
///         sequences of every actor's actions: traders, keepers, the oracle, fund top-ups and the owner. Each
///         `check_*` reads like the promise it checks, and `invariant_protocolPromises` runs them all after every
///         call; the handlers check the per-call rules (ADL order, bystanders, Type 2 all-or-nothing, the fund's
///         risk limit) as they act and record any breach, which `check_handlerRules` reports. After each run the
///         states reached are appended to build/forge/coverage/, and tools/forge_suite.py fails the suite when a
///         state the run exists to reach was reached zero times.
abstract contract ProtocolInvariants is TestBase {
    World internal world;
    IPerpetual internal perp;
    TraderHandler internal traders;
    KeeperHandler internal keepers;
    OracleHandler internal oracle;
    FundHandler internal fund;
    AdminHandler internal admin;

    function _decimals() internal pure virtual returns (uint8);

    function setUp() public {
        world = new World(_decimals());
        perp = world.perp();
        traders = new TraderHandler(world);
        keepers = new KeeperHandler(world);
        oracle = new OracleHandler(world);
        fund = new FundHandler(world);
        admin = new AdminHandler(world);

        bytes4[] memory t = new bytes4[](10);
        t[0] = TraderHandler.deposit.selector;
        t[1] = TraderHandler.withdraw.selector;
        t[2] = TraderHandler.addMargin.selector;
        t[3] = TraderHandler.removeMargin.selector;
        t[4] = TraderHandler.trade.selector;
        t[5] = TraderHandler.fillResting.selector;
        t[6] = TraderHandler.close.selector;
        t[7] = TraderHandler.cancelResting.selector;
        t[8] = TraderHandler.cancelAll.selector;
        t[9] = TraderHandler.trade.selector;
        _target(address(traders), t);
        bytes4[] memory k = new bytes4[](5);
        k[0] = KeeperHandler.liquidate.selector;
        k[1] = KeeperHandler.liquidateBatch.selector;
        k[2] = KeeperHandler.keeperPass.selector;
        k[3] = KeeperHandler.deleverageFund.selector;
        k[4] = KeeperHandler.pokeFund.selector;
        _target(address(keepers), k);
        bytes4[] memory o = new bytes4[](5);
        o[0] = OracleHandler.move.selector;
        o[1] = OracleHandler.gap.selector;
        o[2] = OracleHandler.recover.selector;
        o[3] = OracleHandler.warp.selector;
        o[4] = OracleHandler.refresh.selector;
        _target(address(oracle), o);
        bytes4[] memory f = new bytes4[](1);
        f[0] = FundHandler.topUp.selector;
        _target(address(fund), f);
        bytes4[] memory a = new bytes4[](5);
        a[0] = AdminHandler.setRiskLimit.selector;
        a[1] = AdminHandler.setDrawdownLines.selector;
        a[2] = AdminHandler.setMaintenance.selector;
        a[3] = AdminHandler.setPaused.selector;
        a[4] = AdminHandler.setFunding.selector;
        _target(address(admin), a);
    }

    // ------------------------------------------------------------------ the promises

    /// @notice What the checks read, once per call: every account's free collateral and positions, both funds.
    struct Snap {
        address[] accounts;
        uint256[] free;
        Position[][2] positions; // [market - 1][account index]
        int256[2] fundCash;
        int256[2] fundSize;
        int256[2] fundOpenNotional;
    }

    function _snap() internal view returns (Snap memory s) {
        s.accounts = world.accounts();
        uint256 n = s.accounts.length;
        s.free = new uint256[](n);
        s.positions[0] = new Position[](n);
        s.positions[1] = new Position[](n);
        for (uint256 i; i < n; ++i) {
            s.free[i] = perp.freeCollateral(s.accounts[i]);
            s.positions[0][i] = perp.getPosition(1, s.accounts[i]);
            s.positions[1][i] = perp.getPosition(2, s.accounts[i]);
        }
        for (uint256 m; m < 2; ++m) {
            (s.fundCash[m], s.fundSize[m], s.fundOpenNotional[m],,,) = perp.fundAccount(m + 1);
        }
    }

    /// @notice Every promise below, after every call of every run (one campaign checks them all: Foundry runs a
    ///         separate campaign per `invariant_*` function, so one function keeps the call budget for exploring).
    ///         The ADL queue's lists are walked in full at the end of every run (`afterInvariant`): a list once
    ///         broken stays broken, and the per-call check already holds every position to its tier and key.
    function invariant_protocolPromises() public view {
        Snap memory s = _snap();
        check_conservation(s);
        check_balancedBook(s);
        check_fundCash(s);
        check_noNegativeEquityAfterKeeperPass(s);
        check_queuedPositions(s);
        check_handlerRules();
    }

    /// @notice Conservation, to the unit: the vault's token balance equals free collateral + position margins +
    ///         fund cash - the sum of all cost bases + the index balances (README "Accounting"), and equals what came
    ///         in minus what left.
    function check_conservation(Snap memory s) internal view {
        int256 claims;
        for (uint256 i; i < s.accounts.length; ++i) {
            claims += int256(s.free[i]);
            for (uint256 m; m < 2; ++m) {
                Position memory p = s.positions[m][i];
                claims += int256(uint256(p.margin)) - p.openNotional;
            }
        }
        for (uint256 m; m < 2; ++m) {
            (,,, int256 indexBalance,,) = perp.marketIndex(m + 1);
            claims += s.fundCash[m] - s.fundOpenNotional[m] + indexBalance;
        }
        uint256 balance = world.token().balanceOf(address(perp));
        assertEq(int256(balance), claims, "vault balance vs claims");
        assertEq(balance, world.ghostIn() - world.ghostOut(), "vault balance vs money in and out");
    }

    /// @notice Balanced book: in every market the long sizes equal the short sizes, the fund included.
    function check_balancedBook(Snap memory s) internal view {
        for (uint256 m; m < 2; ++m) {
            int256 net = s.fundSize[m];
            int256 longs = s.fundSize[m] > 0 ? s.fundSize[m] : int256(0);
            for (uint256 i; i < s.accounts.length; ++i) {
                int256 size = s.positions[m][i].size;
                net += size;
                if (size > 0) longs += size;
            }
            assertEq(net, int256(0), "net open interest");
            (,, uint256 oi,,,) = perp.marketIndex(m + 1);
            assertEq(oi, uint256(longs), "open interest kept by the market");
        }
    }

    /// @notice No fund's cash is negative, except by the one documented path (a Type 1 remainder netted against an
    ///         opposite fund position at a loss), which the keeper handler verified when it happened.
    function check_fundCash(Snap memory s) internal view {
        for (uint256 m; m < 2; ++m) {
            if (s.fundCash[m] < 0) assertTrue(world.documentedNegativeCash(m), "fund cash below zero (undocumented path)");
        }
    }

    /// @notice After a keeper pass (and until the price moves or time passes), no trader has negative equity.
    function check_noNegativeEquityAfterKeeperPass(Snap memory s) internal view {
        uint256 scale = 10 ** (18 - uint256(world.decimals()));
        for (uint256 m; m < 2; ++m) {
            if (!world.keeperPassed(m)) continue;
            uint256 mark = uint256(world.price(m)) * 1e10;
            for (uint256 i; i < 6; ++i) {
                Position memory p = s.positions[m][i];
                if (p.size == 0) continue;
                // the side indices as of now (funding accrued since the last touch counts, as the lens and the next
                // liquidation see it: a pass after a warp touches nothing unless it liquidates)
                (,,,,, int256 li, int256 si) = perp.fundingState(m + 1);
                int256 equityD = int256(uint256(p.margin) * 1e18 * scale)
                    + SpecBook.uTimesD(p.size, p.openNotional, mark, scale, p.size > 0 ? li : si, p.indexSnapshot);
                assertGe(equityD, 0, "equity * D after a keeper pass");
            }
        }
    }

    /// @notice Every open position is in its side's ADL queue: in the overflow list (after a partial ADL cut), or in
    ///         the tier its margin per cost basis belongs to, at its current entry key and q; a closed one nowhere.
    function check_queuedPositions(Snap memory s) internal view {
        uint256 scale = 10 ** (18 - uint256(world.decimals()));
        for (uint256 m; m < 2; ++m) {
            for (uint256 i; i < s.accounts.length; ++i) {
                Position memory p = s.positions[m][i];
                if (p.size == 0) {
                    assertTrue(!p.queued, "a closed position is still queued");
                    continue;
                }
                assertTrue(p.queued, "an open position is in its side's queue");
                if (p.tier == AdlQueue.OVERFLOW) continue;
                uint256 absSize = p.size >= 0 ? uint256(int256(p.size)) : uint256(-int256(p.size));
                (,,,,, uint256 ref) = perp.marketIndex(m + 1);
                uint256 refShift = Math.log2(ref);
                assertEq(p.tier, AdlQueue.tierOf(p.margin, absSize, refShift, scale), "sorted position's tier");
                assertEq(p.key, AdlQueue.keyOf(p.size, p.openNotional, p.indexSnapshot, scale), "sorted position's key");
                assertEq(p.qDown, AdlQueue.qDownOf(p.margin, absSize, refShift, scale), "sorted position's q");
            }
        }
    }

    /// @notice The ADL queue's lists hold exactly the open positions, each once; every list linked both ways, its
    ///         head key and the side's bitmap in step, every tier sorted by key (longs ascending, shorts descending).
    ///         This is what makes the engine's bounds, and so the fill order, exact.
    function check_queueLists() internal view {
        Snap memory s = _snap();
        for (uint256 m = 1; m <= 2; ++m) {
            for (uint256 side; side < 2; ++side) {
                bool isLong = side == 0;
                uint256 open;
                for (uint256 i; i < s.accounts.length; ++i) {
                    int256 size = s.positions[m - 1][i].size;
                    if (size != 0 && (size > 0) == isLong) ++open;
                }
                (uint256 bitmap,) = perp.queueSide(m, isLong);
                uint256 seen;
                for (uint256 t; bitmap >> t != 0; ++t) {
                    if (bitmap >> t & 1 == 0) continue;
                    (address head, uint64 headKey) = perp.queueTier(m, isLong, t);
                    assertTrue(head != address(0), "a list in the bitmap has a head");
                    address prev;
                    uint256 lastKey;
                    for (address x = head; x != address(0);) {
                        Position memory p = perp.getPosition(m, x);
                        assertEq(p.prev, prev, "back link");
                        assertEq(p.tier, t, "node in its list");
                        if (prev == address(0)) {
                            // the overflow list keeps no head key (its bound does not use one)
                            assertEq(uint256(headKey), t == AdlQueue.OVERFLOW ? 0 : uint256(p.key), "head key");
                        } else if (t != AdlQueue.OVERFLOW) {
                            assertTrue(!AdlQueue.ahead(isLong, p.key, lastKey), "tier sorted by key");
                        }
                        prev = x;
                        lastKey = p.key;
                        x = p.next;
                        ++seen;
                        assertLe(seen, open, "more nodes than open positions (a cycle or a stale node)");
                    }
                }
                // (a non-empty list missing from the bitmap would be missing here)
                assertEq(seen, open, "positions reached through the lists");
            }
        }
    }

    /// @notice Every per-call rule the handlers check: ADL fills in the SPEC's order at the right price, no
    ///         counterparty left insolvent, bystanders untouched, Type 2 all-or-nothing, withdrawals always work.
    function check_handlerRules() internal view {
        if (world.violationCount() != 0) revert(world.violation(0));
    }

    /// @notice The full walk of the queue's lists, then the states this run reached appended to
    ///         build/forge/coverage/<suite>.txt (one `state count` line each).
    function afterInvariant() public {
        check_queueLists();
        string memory path = string.concat("build/forge/coverage/", _suite(), ".txt");
        string[] memory names = world.stateNames();
        for (uint256 i; i < names.length; ++i) {
            vm.writeLine(path, string.concat(names[i], " ", vm.toString(world.reached(keccak256(bytes(names[i]))))));
        }
    }

    function _suite() internal pure virtual returns (string memory);
}

/// @notice The invariant suite on a 6-decimal collateral (USDC-like).
contract Invariants6Test is ProtocolInvariants {
    function _decimals() internal pure override returns (uint8) {
        return 6;
    }

    function _suite() internal pure override returns (string memory) {
        return "invariants6";
    }
}

/// @notice The invariant suite on an 18-decimal collateral.
contract Invariants18Test is ProtocolInvariants {
    function _decimals() internal pure override returns (uint8) {
        return 18;
    }

    function _suite() internal pure override returns (string memory) {
        return "invariants18";
    }
}
