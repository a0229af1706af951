// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm, Vm} from "../utils/Vm.sol";
import {bound} from "../utils/TestBase.sol";
import {EthMarketTest} from "../utils/EthMarket.sol";
import {ReferenceParams} from "../utils/ReferenceParams.sol";
import {IPerpetualEvents} from "../../../interfaces/IPerpetual.sol";
import {Position} from "../../../interfaces/IPerpetualTypes.sol";

/// @title AdlCapacityTest
/// @notice Type 1 against a counterparty that ranks first, is in profit at mark, and would lose more than its margin
///         at the bankruptcy price: it is cut only as far as its margin covers the realized loss (less the two
///         units a fill may lose to rounding), and the next-ranked position takes the rest. The invariant
///         campaigns reach this state rarely (a high-leverage short opened after a gap, before the keeper's pass),
///         so it is built here on purpose, fuzzed over the gap, the short's entry and its size.
contract AdlCapacityTest is EthMarketTest {
    uint256 internal constant A = 0xA1; // long 10 ETH at 2,000, 10x: bankrupt after the gap
    uint256 internal constant B = 0xB1; // short 10 ETH at 2,000, 1x: in profit, ranked second
    uint256 internal constant C = 0xC1; // short after the gap, 20x, just above mark: ranked first
    uint256 internal constant D = 0xD1; // C's counterparty (long, 2x)

    function setUp() public {
        _deployEthMarket(ReferenceParams.eth(ONE, 5_000_000)); // the fund is empty: it refuses a bankrupt position
        _fund(A, 3_000 * ONE);
        _fund(B, 25_000 * ONE);
        _fund(C, 2_000 * ONE);
        _fund(D, 20_000 * ONE);
        _trade(A, B, 10 * WAD, 2_000 * WAD, 10 * WAD, WAD);
    }

    function testFuzz_type1_cuts_a_counterparty_only_as_far_as_its_margin_allows(
        uint256 gapSeed,
        uint256 entrySeed,
        uint256 sizeSeed
    ) public {
        uint256 mark = 2_000 * (100 - bound(gapSeed, 20, 30)) / 100; // a 20-30% gap down, no keeper in between
        _setPrice(mark);
        uint256 entry = mark * WAD * (10_000 + bound(entrySeed, 300, 400)) / 10_000; // 3-4% above mark
        uint256 sizeC = bound(sizeSeed, WAD, 8 * WAD);
        _trade(D, C, sizeC, entry, 2 * WAD, 20 * WAD);

        Position memory a = perp.getPosition(1, vm.addr(A));
        Position memory c = perp.getPosition(1, vm.addr(C));
        uint256 absA = uint256(int256(a.size));
        uint256 nb = uint256(int256(a.openNotional)) - a.margin; // the long's bankruptcy notional
        uint256 costC = uint256(-int256(c.openNotional));
        // C buys back q at nb / absA against a cost basis of costC / sizeC per size unit: a loss of
        // q * (nb * sizeC - costC * absA) / (absA * sizeC), which must stay within its margin less two units.
        uint256 lossNum = nb * sizeC - costC * absA;
        uint256 cap = (c.margin - 2) * absA * sizeC / lossNum;
        assertTrue(cap > 0 && cap < sizeC, "the scenario needs a counterparty whose margin limits its cut");

        vm.recordLogs();
        vm.prank(keeper);
        perp.liquidate(1, vm.addr(A));
        Vm.Log[] memory logs = vm.getRecordedLogs();

        (address[] memory who, int256[] memory delta, uint256[] memory rank) = _fills(logs);
        assertEq(who.length, 2, "fills");
        assertEq(who[0], vm.addr(C), "rank 1 is the 20x short");
        assertEq(delta[0], int256(cap), "C is cut exactly as far as its margin allows");
        assertEq(rank[0], 1, "C's rank");
        assertEq(who[1], vm.addr(B), "rank 2 takes the rest");
        assertEq(delta[1], int256(absA - cap), "B's cut");
        assertEq(rank[1], 2, "B's rank");
        Position memory after_ = perp.getPosition(1, vm.addr(C));
        assertEq(int256(after_.size), -int256(sizeC - cap), "C keeps the rest of its short");
        assertLe(after_.margin, 3, "C's margin is spent down to the rounding allowance");
    }

    function _fills(Vm.Log[] memory logs)
        internal
        pure
        returns (address[] memory who, int256[] memory delta, uint256[] memory rank)
    {
        uint256 n;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IPerpetualEvents.AdlFill.selector) ++n;
        }
        who = new address[](n);
        delta = new int256[](n);
        rank = new uint256[](n);
        uint256 k;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != IPerpetualEvents.AdlFill.selector) continue;
            who[k] = address(uint160(uint256(logs[i].topics[2])));
            (delta[k],,,, rank[k]) = abi.decode(logs[i].data, (int256, uint256, uint256, uint256, uint256));
            ++k;
        }
    }
}
