// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "./Vm.sol";
import {TestBase} from "./TestBase.sol";
import {Orders} from "./Orders.sol";
import {MockStablecoin} from "../../../contracts/mocks/MockStablecoin.sol";
import {MockAggregator} from "../../../contracts/mocks/MockAggregator.sol";
import {Perpetual} from "../../../contracts/Perpetual.sol";
import {PerpetualRisk} from "../../../contracts/PerpetualRisk.sol";
import {PerpetualAdmin} from "../../../contracts/PerpetualAdmin.sol";
import {IPerpetual} from "../../../interfaces/IPerpetual.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {AggregatorV3Interface} from "../../../interfaces/AggregatorV3Interface.sol";
import {MarketParams, Order, Match} from "../../../interfaces/IPerpetualTypes.sol";

/// @title EthMarketTest
/// @notice The fixture the scripted forge tests share: 6-decimal collateral, the protocol's three parts behind one
///         address, one market ETH-PERP (id 1) with its oracle at 2,000, and helpers to fund traders and settle
///         signed pairs. Tests that need a seeded copy of the protocol override `_newPerpetual`.
abstract contract EthMarketTest is TestBase {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant ONE = 1e6;
    MockStablecoin internal token;
    MockAggregator internal oracle;
    IPerpetual internal perp;
    address internal owner = vm.addr(0xAD);
    address internal keeper = vm.addr(0xEE);
    uint256 internal nonce;

    /// @notice Deploys the collateral, the oracle (2,000), the protocol and ETH-PERP with `params`.
    function _deployEthMarket(MarketParams memory params) internal {
        vm.warp(1_700_000_000);
        token = new MockStablecoin("Test USD", "TUSD", 6);
        oracle = new MockAggregator(8, "ETH / USD", 2_000e8, address(this));
        PerpetualAdmin adminPart = new PerpetualAdmin(IERC20Metadata(address(token)));
        PerpetualRisk riskPart = new PerpetualRisk(IERC20Metadata(address(token)), adminPart);
        perp = IPerpetual(_newPerpetual(IERC20Metadata(address(token)), owner, riskPart));
        vm.prank(owner);
        perp.createMarket("ETH-PERP", AggregatorV3Interface(address(oracle)), params);
    }

    /// @notice The protocol's entry contract (overridden by tests that seed positions directly).
    function _newPerpetual(IERC20Metadata collateral, address owner_, PerpetualRisk riskPart)
        internal
        virtual
        returns (address)
    {
        return address(new Perpetual(collateral, owner_, riskPart));
    }

    /// @notice The account of key `key`, given `amount` of collateral deposited as free collateral.
    function _fund(uint256 key, uint256 amount) internal returns (address a) {
        a = vm.addr(key);
        token.faucet(a, amount);
        vm.startPrank(a);
        token.approve(address(perp), type(uint256).max);
        perp.deposit(amount);
        vm.stopPrank();
    }

    function _order(uint256 key, bool isBuy, uint256 size, uint256 leverage, bool isMaker) internal returns (Order memory) {
        address a = vm.addr(key);
        return Order(
            a, 1, isBuy, size, isBuy ? type(uint128).max : 0, leverage, false, isMaker, ++nonce, perp.orderEpoch(a),
            block.timestamp + 1 days
        );
    }

    /// @notice A signed pair: `buyer` (maker) buys `size` from `seller` at `price` (WAD), at the given leverages.
    function _match(uint256 buyer, uint256 seller, uint256 size, uint256 price, uint256 bLev, uint256 sLev)
        internal
        returns (Match memory)
    {
        Order memory b = _order(buyer, true, size, bLev, true);
        Order memory s = _order(seller, false, size, sLev, false);
        return Match(b, Orders.sign(buyer, address(perp), b), s, Orders.sign(seller, address(perp), s), size, price, address(0), address(0));
    }

    function _trade(uint256 buyer, uint256 seller, uint256 size, uint256 price, uint256 bLev, uint256 sLev) internal {
        perp.settle(_match(buyer, seller, size, price, bLev, sLev));
    }

    /// @notice Sets the oracle to `human` dollars (8 decimals).
    function _setPrice(uint256 human) internal {
        oracle.setPrice(int256(human * 1e8));
    }
}
