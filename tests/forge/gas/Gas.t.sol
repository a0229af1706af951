// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "../utils/Vm.sol";
import {EthMarketTest} from "../utils/EthMarket.sol";
import {ReferenceParams} from "../utils/ReferenceParams.sol";
import {MarketParams, Match} from "../../../interfaces/IPerpetualTypes.sol";

/// @title GasTest
/// @notice The gas of the everyday operations of docs/BENCHMARKS.md, one named figure per operation
///         (`vm.snapshotGasLastCall`), written to tests/forge/gas/snapshots/GasTest.json and checked in, so that a
///         gas regression shows up in review; `make forge` fails when a figure no longer matches the file
///         (`make gas-snapshot` rewrites it). Collateral of 6 decimals, ETH-PERP at 2,000, the reference parameters.
contract GasTest is EthMarketTest {
    function setUp() public {
        _deployEthMarket(_params());
    }

    function _params() internal pure returns (MarketParams memory) {
        return ReferenceParams.eth(ONE, 5_000_000);
    }

    // ------------------------------------------------------------------ vault and margin

    function test_gas_vault() public {
        address a = vm.addr(0x100);
        token.faucet(a, 1_000 * ONE);
        vm.startPrank(a);
        token.approve(address(perp), type(uint256).max);
        perp.deposit(500 * ONE);
        vm.snapshotGasLastCall("deposit, new account");
        perp.deposit(500 * ONE);
        vm.snapshotGasLastCall("deposit, repeat");
        perp.withdraw(100 * ONE);
        vm.snapshotGasLastCall("withdraw");
        vm.stopPrank();
    }

    function test_gas_margin() public {
        _fund(0x101, 10_000 * ONE);
        _fund(0x102, 10_000 * ONE);
        _trade(0x101, 0x102, 1e18, 2_000 * WAD, 5 * WAD, 5 * WAD);
        vm.startPrank(vm.addr(0x101));
        perp.addMargin(1, 100 * ONE);
        vm.snapshotGasLastCall("addMargin");
        perp.removeMargin(1, 50 * ONE);
        vm.snapshotGasLastCall("removeMargin");
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ trading

    function test_gas_settle() public {
        _fund(0x201, 100_000 * ONE);
        _fund(0x202, 100_000 * ONE);
        _trade(0x201, 0x202, 1e18, 2_000 * WAD, 5 * WAD, 5 * WAD);
        vm.snapshotGasLastCall("settle: 1 pair, open 2 new positions");
        _trade(0x201, 0x202, 1e18, 2_000 * WAD, 5 * WAD, 5 * WAD);
        vm.snapshotGasLastCall("settle: 1 pair, increase 2 positions");
        _trade(0x202, 0x201, 5e17, 2_000 * WAD, 5 * WAD, 5 * WAD);
        vm.snapshotGasLastCall("settle: 1 pair, reduce 2 positions");
        _trade(0x202, 0x201, 15e17, 2_000 * WAD, 5 * WAD, 5 * WAD);
        vm.snapshotGasLastCall("settle: 1 pair, close 2 positions");
    }

    function test_gas_settleBatch() public {
        Match[] memory batch = new Match[](10);
        for (uint256 i; i < 10; ++i) {
            _fund(0x300 + 2 * i, 10_000 * ONE);
            _fund(0x301 + 2 * i, 10_000 * ONE);
            batch[i] = _match(0x300 + 2 * i, 0x301 + 2 * i, 1e18, 2_000 * WAD, 5 * WAD, 5 * WAD);
        }
        perp.settleBatch(batch);
        vm.snapshotGasLastCall("settleBatch: 10 pairs, open 20 new positions");
    }

    // ------------------------------------------------------------------ liquidation, insurance fund, ADL

    /// @dev A 20x long of 1 ETH at 2,000 against a 2x short; the price then falls 4.5% (below maintenance).
    function _underwaterLong(uint256 longKey, uint256 shortKey) internal {
        _fund(longKey, 1_000 * ONE);
        _fund(shortKey, 10_000 * ONE);
        _trade(longKey, shortKey, 1e18, 2_000 * WAD, 20 * WAD, 2 * WAD);
    }

    function test_gas_liquidation_fund_accepts() public {
        token.faucet(address(this), 10_000 * ONE);
        token.approve(address(perp), type(uint256).max);
        perp.topUpFund(1, 10_000 * ONE);
        _underwaterLong(0x401, 0x402);
        _setPrice(1_910);
        vm.prank(keeper);
        perp.liquidate(1, vm.addr(0x401));
        vm.snapshotGasLastCall("liquidate: fund accepts");
    }

    /// @dev Ten profitable shorts (1x to 10x, so ten different scores) and a bankrupt long of 0.5 ETH that the empty
    ///      fund refuses: Type 1 closes it against the top-ranked short (size 1), one fill.
    function test_gas_type1_one_fill_ten_positions() public {
        for (uint256 i; i < 10; ++i) {
            _fund(0x500 + i, 10_000 * ONE);
            _fund(0x600 + i, 10_000 * ONE);
            _trade(0x600 + i, 0x500 + i, 1e18, 2_000 * WAD, 2 * WAD, (1 + i) * WAD);
        }
        _fund(0x701, 1_000 * ONE);
        _fund(0x702, 10_000 * ONE);
        _trade(0x701, 0x702, 5e17, 2_000 * WAD, 20 * WAD, 2 * WAD);
        _setPrice(1_890); // the 20x long is bankrupt; every short is in profit
        vm.prank(keeper);
        perp.liquidate(1, vm.addr(0x701));
        vm.snapshotGasLastCall("liquidate: fund refuses, Type 1 with 1 fill, 11 positions on the opposite side");
    }

    /// @dev The fund inherits a long of 1 ETH, its risk limit is then lowered below that notional, and Type 2 sells
    ///      the excess to the top-ranked of two profitable shorts.
    function test_gas_type2_one_fill() public {
        token.faucet(address(this), 10_000 * ONE);
        token.approve(address(perp), type(uint256).max);
        perp.topUpFund(1, 10_000 * ONE);
        _underwaterLong(0x801, 0x802);
        _fund(0x803, 10_000 * ONE);
        _fund(0x804, 10_000 * ONE);
        _trade(0x803, 0x804, 1e18, 2_000 * WAD, 2 * WAD, 5 * WAD);
        _setPrice(1_910);
        vm.prank(keeper);
        perp.liquidate(1, vm.addr(0x801));
        MarketParams memory p = _params();
        p.maxFundNotional = uint128(1_000 * ONE);
        vm.prank(owner);
        perp.setMarketParams(1, p);
        vm.warp(block.timestamp + 2);
        oracle.setPrice(1_910e8);
        vm.prank(keeper);
        perp.deleverageFund(1);
        vm.snapshotGasLastCall("deleverageFund: Type 2 with 1 fill");
        vm.warp(block.timestamp + 2);
        oracle.setPrice(1_900e8);
        perp.pokeFund(1);
        vm.snapshotGasLastCall("pokeFund");
    }
}
