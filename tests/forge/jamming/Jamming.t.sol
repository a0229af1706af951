// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm, Vm} from "../utils/Vm.sol";
import {EthMarketTest} from "../utils/EthMarket.sol";
import {ReferenceParams} from "../utils/ReferenceParams.sol";
import {PerpetualRisk} from "../../../contracts/PerpetualRisk.sol";
import {IPerpetual, IPerpetualEvents, IPerpetualErrors} from "../../../interfaces/IPerpetual.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {MarketParams, Position} from "../../../interfaces/IPerpetualTypes.sol";
import {BenchPerpetual} from "../bench/BenchPerpetual.sol";

/// @title JammingTest
/// @notice The two jamming attacks of the landed design, replayed at the largest size a fixed budget of 10,000 tokens
///         buys under the new rules (a 10-token minimum position notional), and shown to leave liquidation and ADL
///         completing in 30M-gas blocks. Run with `--isolate` (each call its own transaction: its gas is a block's
///         share). The attackers' books are written by `BenchPerpetual` (the benchmark-only seeding path) exactly as
///         their trades would leave them; the budget's size, not the trades, is what the test is about.
///
///         1. Wide: 1,000 shorts of 10 tokens at 1x (margin 10 each), all in profit: they sit in the 1x tier, whose
///            bound is far below the honest 10x-20x shorts' scores, so ADL never reads them.
///         2. Dust that ranks first: 20,000 shorts of 10 tokens at 20x (margin 0.5 each) at the best entries, so every
///            ADL fill is one of them. A 50 ETH bankrupt long needs 10,000 such fills: Type 1 makes at most
///            `MAX_FILLS` per call and hands the rest to the fund, whose Type 2 then continues in chunks
///            (`deleverageFund(marketId, maxSize)`), each call well inside a block, until the fund is flat.
contract JammingTest is EthMarketTest {
    uint256 internal constant BLOCK = 30_000_000;
    uint256 internal constant BUDGET = 10_000; // tokens
    BenchPerpetual internal bench;

    function _newPerpetual(IERC20Metadata collateral, address owner_, PerpetualRisk riskPart)
        internal
        override
        returns (address)
    {
        bench = new BenchPerpetual(collateral, owner_, riskPart);
        return address(bench);
    }

    function setUp() public {
        _deployEthMarket(ReferenceParams.eth(ONE, 5_000_000));
        // 100 honest shorts of 1 ETH at 10x, entries 2,050 .. 2,149
        _seedShorts(0x200000, 100, WAD, 2_050 * WAD, WAD, 10);
    }

    /// @dev `n` shorts of `size` from entry `entry0` up by `step`, at `leverage`x; accounts from `base`.
    function _seedShorts(uint256 base, uint256 n, uint256 size, uint256 entry0, uint256 step, uint256 leverage)
        internal
    {
        for (uint256 start; start < n; start += 500) {
            uint256 k = start + 500 < n ? 500 : n - start;
            address[] memory a = new address[](k);
            int128[] memory s = new int128[](k);
            int128[] memory on = new int128[](k);
            uint128[] memory m = new uint128[](k);
            for (uint256 j; j < k; ++j) {
                uint256 cost = size * (entry0 + (start + j) * step) / WAD / 1e12; // units
                a[j] = address(uint160(base + start + j));
                s[j] = -int128(int256(size));
                on[j] = -int128(int256(cost));
                m[j] = uint128(cost / leverage);
            }
            bench.seed(1, a, s, on, m, new address[](k));
        }
    }

    /// @dev A 20x long of `size` opened at 2,000, bankrupt at 1,890.
    function _bankruptLong(uint256 size) internal returns (address who) {
        who = vm.addr(0xBAD);
        address[] memory a = new address[](1);
        int128[] memory s = new int128[](1);
        int128[] memory on = new int128[](1);
        uint128[] memory m = new uint128[](1);
        a[0] = who;
        s[0] = int128(int256(size));
        on[0] = int128(int256(2_000 * size / WAD * ONE));
        m[0] = uint128(100 * size / WAD * ONE);
        bench.seed(1, a, s, on, m, new address[](1));
    }

    function _fills(Vm.Log[] memory logs) internal pure returns (uint256 n) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length > 0 && logs[i].topics[0] == IPerpetualEvents.AdlFill.selector) ++n;
        }
    }

    function test_wide_attack_at_1x_is_never_read_by_adl() public {
        // measure the liquidation without the attacker first
        uint256 snap = vm.snapshotState();
        address who = _bankruptLong(5 * WAD);
        oracle.setPrice(1_890e8);
        vm.prank(keeper);
        perp.liquidate(1, who);
        uint256 honest = vm.snapshotGasLastCall("liquidate, honest book");
        vm.revertToState(snap);
        // the budget buys 1,000 shorts of 10 tokens at 1x (margin 10 each), at entries 2,200.. (all in profit)
        uint256 n = BUDGET * ONE / (10 * ONE);
        _seedShorts(0x300000, n, 5e15, 2_200 * WAD, 1e15, 1);
        who = _bankruptLong(5 * WAD);
        oracle.setPrice(1_890e8);
        vm.recordLogs();
        vm.prank(keeper);
        perp.liquidate(1, who);
        uint256 attacked = vm.snapshotGasLastCall("liquidate, 1,000 wide 1x shorts");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_fills(logs), 5, "five honest 1 ETH shorts take the 5 ETH");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length == 4 && logs[i].topics[0] == IPerpetualEvents.AdlFill.selector) {
                assertTrue(uint256(logs[i].topics[2]) < 0x300000, "no attacker position was filled");
            }
        }
        // the attacker's positions add one more tier's bound, nothing per position
        assertLe(attacked, honest + 15_000, "liquidation gas with the attack vs without");
        assertLe(attacked, BLOCK, "fits a block");
    }

    function test_dust_that_ranks_first_cannot_stop_liquidation_or_adl() public {
        // the budget buys 20,000 shorts of 10 tokens at 20x (margin 0.5 each) at the best entries, 2,400 and up
        uint256 n = BUDGET * ONE / (ONE / 2);
        _seedShorts(0x400000, n, 5e15, 2_400 * WAD, 1e12, 20);
        address who = _bankruptLong(50 * WAD);
        oracle.setPrice(1_890e8);
        vm.recordLogs();
        vm.prank(keeper);
        perp.liquidate(1, who);
        uint256 used = vm.snapshotGasLastCall("liquidate, 20,000 dust shorts ranking first");
        uint256 fills = _fills(vm.getRecordedLogs());
        assertLe(used, BLOCK, "the liquidation fits a block");
        assertTrue(fills > 0 && fills <= 64, "Type 1 fills within the per-call bound");
        assertEq(perp.getPosition(1, who).size, int256(0), "the bankrupt position is closed");
        (, int256 fundSize,,,,) = perp.fundAccount(1);
        assertEq(fundSize, int256(50 * WAD - fills * 5e15), "the fund holds the rest");
        // Type 2 continues in chunks, as a keeper runs it: ask for a chunk, halve it on AdlWorkLimit
        uint256 chunk = 64 * 5e15;
        uint256 calls;
        uint256 maxGas;
        while (fundSize != 0) {
            vm.prank(keeper);
            try perp.deleverageFund(1, chunk) {
                uint256 g = vm.snapshotGasLastCall("deleverageFund chunk");
                if (g > maxGas) maxGas = g;
            } catch (bytes memory err) {
                assertEq(bytes32(bytes4(err)), bytes32(IPerpetualErrors.AdlWorkLimit.selector), "only the work limit");
                chunk /= 2;
            }
            (, fundSize,,,,) = perp.fundAccount(1);
            ++calls;
            assertLe(calls, 2_000, "Type 2 chunks");
        }
        assertLe(maxGas, BLOCK, "every Type 2 chunk fits a block");
        vm.createDir("build/forge/coverage", true); // (tools/forge_suite.py prints it; a run on its own works too)
        vm.writeLine(
            "build/forge/coverage/jamming.log",
            string.concat(
                "dust attack (20,000 shorts): liquidation ", vm.toString(used), " gas with ", vm.toString(fills),
                " Type 1 fills; then ", vm.toString(calls), " Type 2 calls of at most ", vm.toString(maxGas),
                " gas, last chunk ", vm.toString(chunk)
            )
        );
    }

    function test_a_type2_asking_for_more_than_one_call_can_do_reverts_with_the_work_limit() public {
        _seedShorts(0x400000, 5_000, 5e15, 2_400 * WAD, 1e12, 20);
        bench.seedFund(1, 0, int256(10 * WAD), int256(20_000 * ONE), int256(1_000 * ONE), true);
        oracle.setPrice(1_890e8);
        vm.prank(keeper);
        try perp.deleverageFund(1) {
            revert("a 10 ETH Type 2 against 5,000 dust positions should not fit one call");
        } catch (bytes memory err) {
            assertEq(bytes32(bytes4(err)), bytes32(IPerpetualErrors.AdlWorkLimit.selector), "AdlWorkLimit");
            (uint256 m, uint256 required, uint256 filled) = abi.decode(_args(err), (uint256, uint256, uint256));
            assertEq(m, 1, "market");
            assertEq(required, 10 * WAD, "required: the whole position");
            assertTrue(filled > 0 && filled < required, "some filled, then the bound");
        }
        (, int256 fundSize,,,,) = perp.fundAccount(1);
        assertEq(fundSize, int256(10 * WAD), "all-or-nothing: the fund still holds everything");
    }

    function _args(bytes memory err) internal pure returns (bytes memory out) {
        out = new bytes(err.length - 4);
        for (uint256 i; i < out.length; ++i) {
            out[i] = err[i + 4];
        }
    }
}
