// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "../utils/Vm.sol";
import {ReferenceParams} from "../utils/ReferenceParams.sol";
import {MockStablecoin} from "../../../contracts/mocks/MockStablecoin.sol";
import {MockAggregator} from "../../../contracts/mocks/MockAggregator.sol";
import {Perpetual} from "../../../contracts/Perpetual.sol";
import {PerpetualRisk} from "../../../contracts/PerpetualRisk.sol";
import {PerpetualAdmin} from "../../../contracts/PerpetualAdmin.sol";
import {IPerpetual} from "../../../interfaces/IPerpetual.sol";
import {PerpLens} from "../../../contracts/PerpLens.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {AggregatorV3Interface} from "../../../interfaces/AggregatorV3Interface.sol";
import {MarketParams, Position, Order} from "../../../interfaces/IPerpetualTypes.sol";

/// @title World
/// @notice The deployment the invariant handlers act on, its actors (with private keys, so they sign real EIP-712
///         orders), and the ghost state the handlers keep: money that entered and left the vault, the states the
///         run reached (coverage), and any rule a handler saw broken (violations), which the invariants assert.
contract World {
    uint256 public constant MARKETS = 2;
    uint256 public constant TRADERS = 6;
    uint8 public constant ORACLE_DECIMALS = 8;
    uint256 internal constant WAD = 1e18;

    MockStablecoin public immutable token;
    IPerpetual public immutable perp;
    PerpLens public immutable lens;
    uint8 public immutable decimals;
    uint256 public immutable one; // one whole token in token units
    address public immutable owner;
    address public immutable keeper;
    address public immutable bystander;
    address public immutable funder;
    MockAggregator[MARKETS] public oracles;
    int256[MARKETS] public basePrice; // oracle answers the run starts from (8 decimals)

    uint256[TRADERS] internal _keys;
    address[TRADERS] public traders;

    // ------------------------------------------------------------------ ghost state

    /// @notice Collateral that entered the vault (deposits and fund top-ups) and left it (withdrawals).
    uint256 public ghostIn;
    uint256 public ghostOut;
    /// @notice Whether a keeper pass ran in a market since the last price move or time warp.
    bool[MARKETS] public keeperPassed;
    /// @notice Set when a fund's cash went below zero through the documented path (a Type 1 remainder netted
    ///         against an opposite fund position at a loss); README "Where this design differs from SPEC.md".
    bool[MARKETS] public documentedNegativeCash;

    string[] internal _violations;
    string[] internal _stateNames;
    mapping(bytes32 name => uint256) public reached;

    /// @notice A resting (partially filled) signed order, for later fills and cancellations.
    struct Resting {
        Order order;
        bytes signature;
    }

    Resting[] internal _resting;

    constructor(uint8 decimals_) {
        decimals = decimals_;
        one = 10 ** uint256(decimals_);
        owner = vm.addr(0xAD);
        keeper = vm.addr(0xEE);
        bystander = vm.addr(0xB5);
        funder = vm.addr(0xF0);
        token = new MockStablecoin("Test USD", "TUSD", decimals_);
        PerpetualAdmin adminPart = new PerpetualAdmin(IERC20Metadata(address(token)));
        PerpetualRisk riskPart = new PerpetualRisk(IERC20Metadata(address(token)), adminPart);
        perp = IPerpetual(address(new Perpetual(IERC20Metadata(address(token)), owner, riskPart)));
        lens = new PerpLens(perp);
        basePrice[0] = 2_000e8;
        basePrice[1] = 30_000e8;
        for (uint256 i; i < MARKETS; ++i) {
            oracles[i] = new MockAggregator(ORACLE_DECIMALS, i == 0 ? "ETH / USD" : "BTC / USD", basePrice[i], address(this));
            vm.prank(owner);
            perp.createMarket(i == 0 ? "ETH-PERP" : "BTC-PERP", AggregatorV3Interface(address(oracles[i])), defaultParams(i));
        }
        for (uint256 i; i < TRADERS; ++i) {
            _keys[i] = 0x7000 + i;
            traders[i] = vm.addr(_keys[i]);
            vm.label(traders[i], string.concat("trader", vm.toString(i)));
        }
        vm.label(keeper, "keeper");
        vm.label(bystander, "bystander");
        // Every trader and the bystander start with collateral in the vault; funds start with a small seed so that
        // refusals (and Type 1) are reachable, and a top-up can still rescue them.
        for (uint256 i; i < TRADERS; ++i) {
            _deposit(traders[i], 50_000 * one);
        }
        _deposit(bystander, 10_000 * one);
        for (uint256 i; i < MARKETS; ++i) {
            _topUp(i + 1, 500 * one);
        }
        _declareStates();
    }

    /// @notice The reference parameters (as the devnet deployment uses), with a small risk limit for the fund.
    function defaultParams(uint256 index) public view returns (MarketParams memory p) {
        p = ReferenceParams.eth(one, 400_000);
        if (index == 1) {
            p.imr = uint64(WAD / 25);
            p.mmr = uint64(2 * WAD / 100);
            p.mcr = uint64(3 * WAD / 100);
            p.maxLeverage = uint128(25 * WAD);
        }
    }

    // ------------------------------------------------------------------ money in and out (ghost-tracked)

    function _deposit(address account, uint256 amount) internal {
        token.faucet(account, amount);
        vm.startPrank(account);
        token.approve(address(perp), amount);
        perp.deposit(amount);
        vm.stopPrank();
        ghostIn += amount;
    }

    function _topUp(uint256 marketId, uint256 amount) internal {
        token.faucet(funder, amount);
        vm.startPrank(funder);
        token.approve(address(perp), amount);
        perp.topUpFund(marketId, amount);
        vm.stopPrank();
        ghostIn += amount;
    }

    /// @notice Deposits for `account` (handlers call this; the ghost follows).
    function deposit(address account, uint256 amount) external {
        _deposit(account, amount);
    }

    /// @notice Tops up a market's fund from the funder.
    function topUp(uint256 marketId, uint256 amount) external {
        _topUp(marketId, amount);
    }

    /// @notice Books a withdrawal that succeeded.
    function noteWithdrawal(uint256 amount) external {
        ghostOut += amount;
    }

    // ------------------------------------------------------------------ oracle (the world owns the feeds)

    function setPrice(uint256 index, int256 answer) external {
        oracles[index].setPrice(answer);
        keeperPassed[index] = false;
    }

    function price(uint256 index) external view returns (int256 answer) {
        (, answer,,,) = oracles[index].latestRoundData();
    }

    function afterWarp() external {
        for (uint256 i; i < MARKETS; ++i) {
            keeperPassed[i] = false;
        }
    }

    function setKeeperPassed(uint256 index) external {
        keeperPassed[index] = true;
    }

    function setDocumentedNegativeCash(uint256 index, bool value) external {
        documentedNegativeCash[index] = value;
    }

    // ------------------------------------------------------------------ actors and orders

    function keyOf(uint256 traderIndex) external view returns (uint256) {
        return _keys[traderIndex];
    }

    /// @notice Every account that can hold collateral: traders, bystander, keeper.
    function accounts() public view returns (address[] memory list) {
        list = new address[](TRADERS + 2);
        for (uint256 i; i < TRADERS; ++i) {
            list[i] = traders[i];
        }
        list[TRADERS] = bystander;
        list[TRADERS + 1] = keeper;
    }

    function addResting(Order memory order, bytes memory signature) external {
        if (_resting.length >= 32) _resting[uint256(keccak256(abi.encode(order))) % 32] = Resting(order, signature);
        else _resting.push(Resting(order, signature));
    }

    function restingCount() external view returns (uint256) {
        return _resting.length;
    }

    function resting(uint256 i) external view returns (Order memory order, bytes memory signature) {
        Resting storage r = _resting[i];
        return (r.order, r.signature);
    }

    // ------------------------------------------------------------------ coverage and violations

    function _declareStates() private {
        string[20] memory names = [
            "trade",
            "partial_fill",
            "resting_fill",
            "liquidation_accepted",
            "refused_negative_equity",
            "refused_risk_limit",
            "refused_drawdown",
            "bankrupt_liquidated",
            "type1_fill",
            "type1_remainder_to_fund",
            "type2_fill",
            "type2_revert_capacity",
            "type2_revert_not_distressed",
            "type2_revert_flat",
            "latch_set",
            "latch_cleared",
            "withdrawal",
            "margin_removed",
            "funding_on",
            "fill_below_minimum"
        ];
        for (uint256 i; i < names.length; ++i) {
            _stateNames.push(names[i]);
        }
    }

    function hit(string memory name) external {
        reached[keccak256(bytes(name))] += 1;
    }

    function hitN(string memory name, uint256 n) external {
        reached[keccak256(bytes(name))] += n;
    }

    function stateNames() external view returns (string[] memory) {
        return _stateNames;
    }

    function violate(string memory what) external {
        _violations.push(what);
    }

    function violationCount() external view returns (uint256) {
        return _violations.length;
    }

    function violation(uint256 i) external view returns (string memory) {
        return _violations[i];
    }

    // ------------------------------------------------------------------ reads

    function position(uint256 index, address account) external view returns (Position memory) {
        return perp.getPosition(index + 1, account);
    }
}
