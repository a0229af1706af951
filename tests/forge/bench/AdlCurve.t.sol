// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm, Vm} from "../utils/Vm.sol";
import {EthMarketTest} from "../utils/EthMarket.sol";
import {ReferenceParams} from "../utils/ReferenceParams.sol";
import {Orders} from "../utils/Orders.sol";
import {PerpetualRisk} from "../../../contracts/PerpetualRisk.sol";
import {IPerpetual, IPerpetualEvents} from "../../../interfaces/IPerpetual.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {MarketParams, Order, Match, Position} from "../../../interfaces/IPerpetualTypes.sol";
import {AdlQueue} from "../../../contracts/libraries/AdlQueue.sol";
import {BenchPerpetual} from "./BenchPerpetual.sol";

/// @title AdlCurveBench
/// @notice The ADL cost curve of docs/BENCHMARKS.md: for N = 10 ... 100,000 open shorts (1 ETH each, entries spread
///         1,800-2,200, leverage 1x-20x: margin per cost basis drawn across the tiers), at mark 1,890:
///         Type 1 with 1 and with 10 fills (a bankrupt long the empty fund refuses), Type 2 with 1 and 10 fills (a fund
///         long in drawdown distress), a trade that opens two positions into the book with hints, and the queue
///         upkeep of one changed position. Every figure is the gas of one transaction (run with `--isolate`, so
///         storage starts cold as on a chain); results go to build/bench/adl_curve.txt, which
///         scripts/bench_adl.py prints beside the targets. The book is seeded by `BenchPerpetual` (benchmark only).
contract AdlCurveBench is EthMarketTest {
    uint256 internal constant SCALE = 1e12;
    string internal constant OUT = "build/bench/adl_curve.txt";
    BenchPerpetual internal bench;
    uint256 internal rng;

    function _newPerpetual(IERC20Metadata collateral, address owner_, PerpetualRisk riskPart)
        internal
        override
        returns (address)
    {
        bench = new BenchPerpetual(collateral, owner_, riskPart);
        return address(bench);
    }

    function setUp() public {
        _deployEthMarket(_params());
        // the keeper already holds collateral (as a working keeper does): its reward is not its first balance
        token.faucet(keeper, 100 * ONE);
        vm.startPrank(keeper);
        token.approve(address(perp), type(uint256).max);
        perp.deposit(100 * ONE);
        vm.stopPrank();
        // The market has traded, as every market with an open book has: its fund holds a high-water-mark sample
        // (here an hour old), so a measured call rewrites the sample slots as it would in a live market. On a market
        // whose fund was never sampled, the first sample writes two fresh slots (about 44k more, docs/BENCHMARKS.md).
        bench.seedFund(1, 0, 0, 0, 0, false);
        vm.warp(block.timestamp + 1 hours);
        _setPrice(2_000);
    }

    function _params() internal pure returns (MarketParams memory) {
        return ReferenceParams.eth(ONE, 5_000_000);
    }

    function _rand(uint256 n) internal returns (uint256) {
        rng = uint256(keccak256(abi.encode(rng)));
        return rng % n;
    }

    function _account(uint256 i) internal pure returns (address) {
        return address(uint160(0x100000 + i));
    }

    /// @dev N shorts of 1 ETH: per tier of margin per cost basis between 20x and 1x a random walk of entries from
    ///      1,800 upwards (sorted, so each insertion is at its tier's head: O(1), as a hint would make it).
    function _book(uint256 n) internal {
        rng = n;
        uint256 ref = bench.refShift(1);
        // 1 ETH at about 2,000: margin per unit of size 100 (20x) to 2,000 (1x), over the reference price
        uint256 first = AdlQueue.tierOf(100 * WAD / SCALE, WAD, ref, SCALE);
        uint256 tiers = AdlQueue.tierOf(2_000 * WAD / SCALE, WAD, ref, SCALE) - first;
        uint256[] memory entry = new uint256[](tiers);
        for (uint256 t; t < tiers; ++t) {
            entry[t] = 1_800 * WAD;
        }
        uint256 step = 400 * WAD * tiers / n; // mean gap so that each tier's walk ends near 2,200
        uint256 batch = 500;
        for (uint256 start; start < n; start += batch) {
            uint256 k = start + batch < n ? batch : n - start;
            address[] memory accounts = new address[](k);
            int128[] memory sizes = new int128[](k);
            int128[] memory ons = new int128[](k);
            uint128[] memory margins = new uint128[](k);
            address[] memory hints = new address[](k);
            for (uint256 j; j < k; ++j) {
                uint256 t = _rand(tiers);
                entry[t] += 1 + _rand(2 * step);
                uint256 on = entry[t] / SCALE; // 1 ETH at that entry, in units
                // q within tier first + t: [edge, next edge)
                uint256 lo = AdlQueue.edgeNum(first + t);
                uint256 hi = AdlQueue.edgeNum(first + t + 1);
                // q = margin * D / (size * R) with size 1 ETH: margin = q * R / scale, q = num / 2^Q_BITS
                uint256 margin = ((lo + _rand(hi - lo)) << ref) / (SCALE << AdlQueue.Q_BITS) + 1;
                accounts[j] = _account(start + j);
                sizes[j] = -int128(int256(WAD));
                ons[j] = -int128(int256(on));
                margins[j] = uint128(margin);
            }
            bench.seed(1, accounts, sizes, ons, margins, hints);
        }
    }

    function _record(uint256 n, string memory row, uint256 gasUsed, uint256 fills) internal {
        vm.writeLine(OUT, string.concat(vm.toString(n), "\t", row, "\t", vm.toString(gasUsed), "\t", vm.toString(fills)));
    }

    /// @dev A bankrupt 20x long of `size` opened at 2,000 (margin 100 per ETH): at 1,890 its equity is -10 per ETH.
    function _type1(uint256 n, uint256 size, string memory row) internal {
        uint256 snap = vm.snapshotState();
        address[] memory a = new address[](1);
        int128[] memory s = new int128[](1);
        int128[] memory on = new int128[](1);
        uint128[] memory m = new uint128[](1);
        a[0] = vm.addr(0xBAD);
        s[0] = int128(int256(size));
        on[0] = int128(int256(2_000 * size / WAD * ONE));
        m[0] = uint128(100 * size / WAD * ONE);
        bench.seed(1, a, s, on, m, new address[](1));
        oracle.setPrice(1_890e8);
        vm.recordLogs();
        vm.prank(keeper);
        perp.liquidate(1, a[0]);
        uint256 used = vm.snapshotGasLastCall(row);
        _record(n, row, used, _countFills());
        vm.revertToState(snap);
    }

    /// @dev The fund long `size` at 2,000 with no cash and its drawdown latch set: Type 2 sells it all at its
    ///      bankruptcy price 2,000 (above the mark 1,890) to the top-ranked shorts.
    function _type2(uint256 n, uint256 size, string memory row) internal {
        uint256 snap = vm.snapshotState();
        bench.seedFund(1, 0, int256(size), int256(2_000 * size / WAD * ONE), int256(1_000 * ONE), true);
        oracle.setPrice(1_890e8);
        vm.recordLogs();
        vm.prank(keeper);
        perp.deleverageFund(1);
        uint256 used = vm.snapshotGasLastCall(row);
        _record(n, row, used, _countFills());
        vm.revertToState(snap);
    }

    function _countFills() internal returns (uint256 count) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length > 0 && logs[i].topics[0] == IPerpetualEvents.AdlFill.selector) ++count;
        }
    }

    /// @dev A new long and a new short trade into the book, each with the hint an off-chain client computes.
    function _trade(uint256 n) internal {
        uint256 snap = vm.snapshotState();
        uint256 kb = 0xB0B;
        uint256 ks = 0x5E11;
        address b = vm.addr(kb);
        address s = vm.addr(ks);
        token.faucet(b, 10_000 * ONE);
        token.faucet(s, 10_000 * ONE);
        vm.startPrank(b);
        token.approve(address(perp), type(uint256).max);
        perp.deposit(10_000 * ONE);
        vm.stopPrank();
        vm.startPrank(s);
        token.approve(address(perp), type(uint256).max);
        perp.deposit(10_000 * ONE);
        vm.stopPrank();
        uint256 price = 2_000 * WAD;
        // each side at 7x: margin = ceil(notional / 7); the hint is the node after which that lands
        uint256 notional = 2_000 * ONE;
        uint256 margin = (notional * WAD + 7 * WAD - 1) / (7 * WAD);
        address bh = bench.hintFor(1, true, int256(WAD), int256(notional), margin);
        address sh = bench.hintFor(1, false, -int256(WAD), -int256(notional), margin);
        Order memory bo = Order(b, 1, true, WAD, price, 7 * WAD, false, true, 1, 0, block.timestamp + 1 days);
        Order memory so = Order(s, 1, false, WAD, price, 7 * WAD, false, false, 1, 0, block.timestamp + 1 days);
        Match memory m = Match(bo, Orders.sign(kb, address(perp), bo), so, Orders.sign(ks, address(perp), so), WAD, price, bh, sh);
        perp.settle(m);
        _record(n, "settle: 1 pair, open 2 new positions, with hints", vm.snapshotGasLastCall("settle"), 0);
        vm.revertToState(snap);
    }

    /// @dev One position of the book moves to another tier: with the queue upkeep, and without it.
    function _upkeep(uint256 n) internal {
        uint256 snap = vm.snapshotState();
        address a = _account(n / 2);
        Position memory p = perp.getPosition(1, a);
        uint128 margin = uint128(uint256(p.margin) * 3 / 2 + 1);
        address hint = bench.hintFor(1, false, p.size, p.openNotional, margin);
        bench.setMarginAndRequeue(1, a, margin, hint);
        uint256 with_ = vm.snapshotGasLastCall("requeue");
        vm.revertToState(snap);
        bench.setMarginOnly(1, a, margin);
        uint256 without = vm.snapshotGasLastCall("no requeue");
        _record(n, "queue upkeep of one changed position (remove + insert with hint)", with_ - without, 0);
        vm.revertToState(snap);
    }

    function _curve(uint256 n) internal {
        _book(n);
        _type1(n, WAD / 2, "Type 1, 1 fill");
        _type1(n, 10 * WAD, "Type 1, 10 fills");
        _type2(n, WAD / 2, "Type 2, 1 fill");
        _type2(n, 10 * WAD, "Type 2, 10 fills");
        _trade(n);
        _upkeep(n);
    }

    function test_adl_curve_10() public {
        _curve(10);
    }

    function test_adl_curve_100() public {
        _curve(100);
    }

    function test_adl_curve_1000() public {
        _curve(1_000);
    }

    function test_adl_curve_10000() public {
        _curve(10_000);
    }

    function test_adl_curve_100000() public {
        _curve(100_000);
    }
}
