// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "../utils/Vm.sol";
import {EthMarketTest} from "../utils/EthMarket.sol";
import {ReferenceParams} from "../utils/ReferenceParams.sol";
import {IPerpetualEvents} from "../../../interfaces/IPerpetual.sol";
import {Position} from "../../../interfaces/IPerpetualTypes.sol";

/// @title LossWaterfallTest
/// @notice The loss waterfall's last layer, built on purpose (the invariant campaigns reach it rarely): with an empty
///         fund, a bankrupt long that nobody in the queue can take nets against the fund's own short at a loss
///         beyond its cash. That loss is spread over the short side's open interest per unit of size, the fund's
///         cash is back at zero, the short pays its share when it next trades, and everyone can withdraw
///         everything. With nobody left in the market the loss stays in the fund's cash, announced.
contract LossWaterfallTest is EthMarketTest {
    uint256 internal constant ALICE = 0xA1;
    uint256 internal constant BOB = 0xB1; // short 1 at 2,000, 20x: bankrupt at 2,100, the fund inherits it
    uint256 internal constant CAROL = 0xC1; // long 1 at 2,200 (underwater when bob is liquidated)
    uint256 internal constant DAVE = 0xD1; // long 1 at 2,300, 20x: bankrupt at 2,185
    uint256 internal constant ERIN = 0xE1;
    uint256 internal constant GRACE = 0xF1; // short 1 at 2,180: not in profit when dave is liquidated

    function setUp() public {
        _deployEthMarket(ReferenceParams.eth(ONE, 5_000_000));
        for (uint256 k = ALICE; k <= GRACE; k += 0x10) {
            _fund(k, 5_000 * ONE);
        }
        _trade(ALICE, BOB, WAD, 2_000 * WAD, 5 * WAD, 20 * WAD);
        _setPrice(2_100);
        _trade(CAROL, ALICE, WAD, 2_200 * WAD, 2 * WAD, 5 * WAD);
        _setPrice(2_110);
        vm.prank(keeper);
        perp.liquidate(1, vm.addr(BOB)); // refused, no eligible long: the fund takes short 1 at 2,100
        (, int256 fundSize, int256 fundOn,,,) = perp.fundAccount(1);
        assertEq(fundSize, -int256(WAD), "the fund is short 1");
        assertEq(fundOn, -2_100 * int256(ONE), "at bob's bankruptcy price");
    }

    function test_a_fund_loss_below_zero_is_spread_over_the_side_that_gained() public {
        _setPrice(2_300);
        _trade(DAVE, ERIN, WAD, 2_300 * WAD, 20 * WAD, 5 * WAD);
        _setPrice(2_200);
        _trade(ERIN, GRACE, WAD, 2_180 * WAD, 5 * WAD, 5 * WAD); // erin closes, grace short 1 at 2,180
        _setPrice(2_180);
        // dave: the fund buys 1 back at his bankruptcy price 2,185 against its short at 2,100: 85 beyond its cash,
        // carried by the shorts (grace's 1 ETH, the open interest): 85 per unit of size
        vm.expectEmit(true, true, false, true, address(perp));
        emit IPerpetualEvents.LossSocialized(1, vm.addr(DAVE), false, 85 * ONE, 85 * WAD, int256(85 * WAD));
        vm.prank(keeper);
        perp.liquidate(1, vm.addr(DAVE));
        (int256 cash, int256 size,,,,) = perp.fundAccount(1);
        assertEq(cash, int256(0), "the fund cash is back at zero");
        assertEq(size, int256(0), "the fund is flat");
        (int256 longIndex, int256 shortIndex, uint256 oi, int256 balance,, uint256 ref) = perp.marketIndex(1);
        assertEq(longIndex, int256(0), "the longs owe nothing");
        assertEq(shortIndex, int256(85 * WAD), "the shorts' index");
        assertEq(oi, WAD, "carol's long");
        assertEq(balance, -85 * int256(ONE), "owed by the shorts");
        assertEq(ref, 2 ** 70, "the mark at listing (2,000) rounded down to a power of two");
        // grace closes against carol at 2,180: she settles the 85 first, and realizes -85 on the close
        address grace = vm.addr(GRACE);
        uint256 freeBefore = perp.freeCollateral(grace);
        Position memory g = perp.getPosition(1, grace);
        vm.expectEmit(true, true, false, true, address(perp));
        emit IPerpetualEvents.IndexSettled(1, grace, 85 * int256(ONE));
        _trade(GRACE, CAROL, WAD, 2_180 * WAD, WAD, WAD);
        uint256 makerFee = 2_180 * ONE * 2 / 10_000; // 2 bps, grace is the maker
        assertEq(perp.freeCollateral(grace), freeBefore + g.margin - 85 * ONE - makerFee, "grace paid her share");
        (,,, balance,,) = perp.marketIndex(1);
        assertEq(balance, int256(0), "the index balance is settled");
        // everyone withdraws everything; the vault keeps exactly the fund's cash
        address[7] memory everyone =
            [keeper, vm.addr(ALICE), vm.addr(BOB), vm.addr(CAROL), vm.addr(DAVE), vm.addr(ERIN), grace];
        for (uint256 i; i < everyone.length; ++i) {
            uint256 free = perp.freeCollateral(everyone[i]);
            if (free == 0) continue;
            vm.prank(everyone[i]);
            perp.withdraw(free);
        }
        (cash,,,,,) = perp.fundAccount(1);
        assertEq(token.balanceOf(address(perp)), uint256(cash), "the vault holds the fund's cash, nothing is short");
    }

    function test_with_nobody_left_the_loss_stays_in_the_fund_cash() public {
        _setPrice(2_300);
        _trade(DAVE, CAROL, WAD, 2_300 * WAD, 20 * WAD, 2 * WAD); // carol closes: dave and the fund are all that is left
        _setPrice(2_180);
        vm.expectEmit(true, true, false, true, address(perp));
        emit IPerpetualEvents.LossUnsocialized(1, vm.addr(DAVE), 85 * ONE);
        vm.prank(keeper);
        perp.liquidate(1, vm.addr(DAVE));
        (int256 cash, int256 size,,,,) = perp.fundAccount(1);
        assertEq(cash, -85 * int256(ONE), "the loss stays in the fund's cash");
        assertEq(size, int256(0), "the fund is flat");
        (,, uint256 oi, int256 balance,,) = perp.marketIndex(1);
        assertEq(oi, uint256(0), "nobody left");
        assertEq(balance, int256(0), "nothing spread");
    }
}
