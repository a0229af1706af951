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
        bytes4[] memory a = new bytes4[](4);
        a[0] = AdminHandler.setRiskLimit.selector;
        a[1] = AdminHandler.setDrawdownLines.selector;
        a[2] = AdminHandler.setMaintenance.selector;
        a[3] = AdminHandler.setPaused.selector;
        _target(address(admin), a);
    }

    // ------------------------------------------------------------------ the promises

    /// @notice Every promise below, after every call of every run (one campaign checks them all: Foundry runs a
    ///         separate campaign per `invariant_*` function, so one function keeps the call budget for exploring).
    function invariant_protocolPromises() public view {
        check_conservation();
        check_balancedBook();
        check_fundCash();
        check_noNegativeEquityAfterKeeperPass();
        check_queue();
        check_handlerRules();
    }

    /// @notice Conservation, to the unit: the vault's token balance equals free collateral + position margins +
    ///         fund cash - the sum of all cost bases (README "Accounting"), and equals what came in minus what left.
    function check_conservation() internal view {
        address[] memory accounts = world.accounts();
        int256 claims;
        for (uint256 i; i < accounts.length; ++i) {
            claims += int256(perp.freeCollateral(accounts[i]));
            for (uint256 m = 1; m <= 2; ++m) {
                Position memory p = perp.getPosition(m, accounts[i]);
                claims += int256(uint256(p.margin)) - p.openNotional;
            }
        }
        for (uint256 m = 1; m <= 2; ++m) {
            (int256 cash,, int256 on,,,) = perp.fundAccount(m);
            claims += cash - on;
        }
        uint256 balance = world.token().balanceOf(address(perp));
        assertEq(int256(balance), claims, "vault balance vs claims");
        assertEq(balance, world.ghostIn() - world.ghostOut(), "vault balance vs money in and out");
    }

    /// @notice Balanced book: in every market the long sizes equal the short sizes, the fund included.
    function check_balancedBook() internal view {
        address[] memory accounts = world.accounts();
        for (uint256 m = 1; m <= 2; ++m) {
            int256 net;
            for (uint256 i; i < accounts.length; ++i) {
                net += perp.getPosition(m, accounts[i]).size;
            }
            (, int256 fundSize,,,,) = perp.fundAccount(m);
            assertEq(net + fundSize, int256(0), "net open interest");
        }
    }

    /// @notice No fund's cash is negative, except by the one documented path (a Type 1 remainder netted against an
    ///         opposite fund position at a loss), which the keeper handler verified when it happened.
    function check_fundCash() internal view {
        for (uint256 m = 1; m <= 2; ++m) {
            (int256 cash,,,,,) = perp.fundAccount(m);
            if (cash < 0) assertTrue(world.documentedNegativeCash(m - 1), "fund cash below zero (undocumented path)");
        }
    }

    /// @notice After a keeper pass (and until the price moves or time passes), no trader has negative equity.
    function check_noNegativeEquityAfterKeeperPass() internal view {
        uint256 scale = 10 ** (18 - uint256(world.decimals()));
        for (uint256 index; index < 2; ++index) {
            if (!world.keeperPassed(index)) continue;
            uint256 mark = uint256(world.price(index)) * 1e10;
            for (uint256 i; i < 6; ++i) {
                Position memory p = perp.getPosition(index + 1, world.traders(i));
                if (p.size == 0) continue;
                int256 equityD = int256(uint256(p.margin) * 1e18 * scale) + SpecBook.uTimesD(p.size, p.openNotional, mark, scale);
                assertGe(equityD, 0, "equity * D after a keeper pass");
            }
        }
    }

    /// @notice The ADL queue holds exactly the open positions, each once: in the overflow list (after a partial
    ///         ADL cut) or in the tier its margin per cost basis belongs to, at its current entry key, with every
    ///         tier sorted by key (longs ascending, shorts descending), every list linked both ways, its head and the
    ///         side's bitmap in step. This is what makes the engine's bounds, and so the fill order, exact.
    function check_queue() internal view {
        address[] memory accounts = world.accounts();
        uint256 scale = 10 ** (18 - uint256(world.decimals()));
        for (uint256 m = 1; m <= 2; ++m) {
            for (uint256 side; side < 2; ++side) {
                bool isLong = side == 0;
                (address[] memory walk,,) = perp.sidePositions(m, isLong, address(0), type(uint256).max);
                uint256 open;
                for (uint256 i; i < accounts.length; ++i) {
                    Position memory p = perp.getPosition(m, accounts[i]);
                    if (p.size == 0 || (p.size > 0) != isLong) {
                        assertTrue(!p.queued || p.size != 0, "a closed position is still queued");
                        continue;
                    }
                    ++open;
                    assertTrue(p.queued, "an open position is in its side's queue");
                    if (p.tier != AdlQueue.OVERFLOW) {
                        uint256 absOn = p.openNotional >= 0 ? uint256(int256(p.openNotional)) : uint256(-int256(p.openNotional));
                        assertEq(p.tier, AdlQueue.tierOf(p.margin, absOn), "sorted position's tier");
                        assertEq(p.key, AdlQueue.keyOf(p.size, p.openNotional, scale), "sorted position's key");
                        assertEq(p.qDown, AdlQueue.qDownOf(p.margin, absOn), "sorted position's q");
                    }
                }
                assertEq(walk.length, open, "positions in the queue");
                (uint256 bitmap,) = perp.queueSide(m, isLong);
                // (a non-empty tier missing from the bitmap would be missing from the walk above, whose count is checked)
                for (uint256 t; bitmap >> t != 0; ++t) {
                    if (bitmap >> t & 1 == 0) continue;
                    (address head, uint64 headKey) = perp.queueTier(m, isLong, t);
                    assertTrue(head != address(0), "a tier in the bitmap has a head");
                    address prev;
                    uint256 lastKey;
                    for (address x = head; x != address(0);) {
                        Position memory p = perp.getPosition(m, x);
                        assertEq(p.prev, prev, "back link");
                        assertEq(p.tier, t, "node in its tier");
                        if (prev == address(0)) assertEq(uint256(headKey), uint256(p.key), "head key");
                        else if (t != AdlQueue.OVERFLOW) assertTrue(!AdlQueue.ahead(isLong, p.key, lastKey), "tier sorted by key");
                        prev = x;
                        lastKey = p.key;
                        x = p.next;
                    }
                }
            }
        }
    }

    /// @notice Every per-call rule the handlers check: ADL fills in the SPEC's order at the right price, no
    ///         counterparty left insolvent, bystanders untouched, Type 2 all-or-nothing, withdrawals always work.
    function check_handlerRules() internal view {
        if (world.violationCount() != 0) revert(world.violation(0));
    }

    /// @notice Appends the states this run reached to build/forge/coverage/<suite>.txt (one `state count` line each).
    function afterInvariant() public {
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
