// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "../utils/Vm.sol";
import {EthMarketTest} from "../utils/EthMarket.sol";
import {ReferenceParams} from "../utils/ReferenceParams.sol";
import {IPerpetualEvents, IPerpetualErrors} from "../../../interfaces/IPerpetual.sol";
import {FundingParams, Position} from "../../../interfaces/IPerpetualTypes.sol";

/// @title FundingTest
/// @notice Funding, exactly: a trade 0.1% above the mark sets the rate's target to its premium (the 0.1% cap); the
///         rate moves towards it by at most the allowed change per period of elapsed time; each elapsed interval
///         accrues at the rate set at its start into both side indices, the longs' up by what the shorts' goes down;
///         positions count it at once and settle it on their next touch, to the unit, zero-sum.
contract FundingTest is EthMarketTest {
    uint256 internal constant ALICE = 0xA1; // long 1 ETH at 2,002
    uint256 internal constant BOB = 0xB1; // short 1 ETH at 2,002
    uint32 internal constant PERIOD = 8 hours;
    uint64 internal constant CAP = 1e15; // 0.1% of notional per period

    function setUp() public {
        _deployEthMarket(ReferenceParams.eth(ONE, 5_000_000));
        _fund(ALICE, 5_000 * ONE);
        _fund(BOB, 5_000 * ONE);
        vm.prank(owner);
        perp.setFundingParams(1, FundingParams(PERIOD, CAP, CAP));
        _trade(ALICE, BOB, WAD, 2_002 * WAD, 5 * WAD, 5 * WAD); // 0.1% above the mark of 2,000
    }

    function _state() internal view returns (int256 rate, int256 target, int256 longNow, int256 shortNow) {
        (, rate, target,,, longNow, shortNow) = perp.fundingState(1);
    }

    function test_a_premium_sets_the_target_and_the_rate_follows_at_its_bounded_pace() public {
        (int256 rate, int256 target,,) = _state();
        assertEq(target, int256(uint256(CAP)), "target: the fill's premium, 0.1%, at the cap");
        assertEq(rate, int256(0), "the rate has not moved yet");
        // half a period later: the interval accrued at 0; the rate moved half the allowed change
        vm.warp(block.timestamp + PERIOD / 2);
        _setPrice(2_000); // (a fresh oracle answer, at the same price)
        vm.prank(keeper);
        perp.pokeFund(1);
        (rate,,,) = _state();
        assertEq(rate, int256(uint256(CAP / 2)), "half a period: half the change");
        (int256 longIndex, int256 shortIndex,,,,) = perp.marketIndex(1);
        assertEq(longIndex, int256(0), "nothing accrued at a rate of 0");
        assertEq(shortIndex, int256(0), "nor to the shorts");
        // a whole period later: accrued at 0.05% of 2,000 per unit = 1.00 per unit, both ways; the rate at its target
        vm.warp(block.timestamp + PERIOD);
        _setPrice(2_000);
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpetualEvents.FundingAccrued(1, int256(uint256(CAP / 2)), 2_000 * WAD, 1e18, -1e18, int256(uint256(CAP)));
        vm.prank(keeper);
        perp.pokeFund(1);
        (longIndex, shortIndex,,,,) = perp.marketIndex(1);
        assertEq(longIndex, 1e18, "longs paid 1.00 per unit");
        assertEq(shortIndex, -1e18, "shorts received 1.00 per unit");
    }

    function test_positions_count_funding_at_once_and_settle_it_zero_sum_on_their_next_touch() public {
        vm.warp(block.timestamp + PERIOD);
        _setPrice(2_000);
        vm.prank(keeper);
        perp.pokeFund(1); // the rate reaches 0.1% (the first period accrued at 0)
        vm.warp(block.timestamp + PERIOD); // a period at 0.1% of 2,000: 2.00 per unit, not yet accrued
        (,, int256 longNow, int256 shortNow) = _state();
        assertEq(longNow, 2e18, "the view counts the funding accrued to now");
        assertEq(shortNow, -2e18, "and the shorts receive it");
        address alice = vm.addr(ALICE);
        address bob = vm.addr(BOB);
        Position memory a = perp.getPosition(1, alice);
        Position memory b = perp.getPosition(1, bob);
        // alice adds margin (a touch): she settles the 2.00 she owes into her cost basis
        vm.expectEmit(true, true, false, true, address(perp));
        emit IPerpetualEvents.IndexSettled(1, alice, 2 * int256(ONE));
        vm.prank(alice);
        perp.addMargin(1, ONE);
        assertEq(perp.getPosition(1, alice).openNotional, a.openNotional + 2 * int128(int256(ONE)), "alice paid 2.00");
        (,,, int256 balance,,) = perp.marketIndex(1);
        assertEq(balance, 2 * int256(ONE), "held for the shorts");
        // bob adds margin: he receives the 2.00 (his cost basis, a short's, is 2.00 more received)
        vm.prank(bob);
        perp.addMargin(1, ONE);
        assertEq(perp.getPosition(1, bob).openNotional, b.openNotional - 2 * int128(int256(ONE)), "bob received 2.00");
        (,,, balance,,) = perp.marketIndex(1);
        assertEq(balance, int256(0), "zero-sum: the balance is back at zero");
    }

    function test_funding_parameters_out_of_bounds_revert_with_their_name() public {
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(IPerpetualErrors.InvalidParameter.selector, "fundingPeriod", 59));
        perp.setFundingParams(1, FundingParams(59, CAP, CAP));
        vm.expectRevert(abi.encodeWithSelector(IPerpetualErrors.InvalidParameter.selector, "maxRate", 1e17 + 1));
        perp.setFundingParams(1, FundingParams(PERIOD, 1e17 + 1, CAP));
        vm.expectRevert(abi.encodeWithSelector(IPerpetualErrors.InvalidParameter.selector, "maxRateChange", 0));
        perp.setFundingParams(1, FundingParams(PERIOD, CAP, 0));
        vm.stopPrank();
    }
}
