// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase, bound} from "../utils/TestBase.sol";
import {FundWatermark} from "../../../contracts/libraries/FundWatermark.sol";

/// @notice The fund's sample queue with the state `PerpBase._updateWatermark` keeps (its two ends).
contract WatermarkHarness {
    mapping(uint256 => uint256) internal ring;
    uint256 public head;
    uint256 public tail;

    function sample(uint256 now_, uint256 window, int256 equity) external returns (int256 hwm, uint256 hwmTime) {
        (head, tail, hwm, hwmTime) = FundWatermark.sample(ring, head, tail, now_, window, equity);
    }
}

/// @title FundWatermarkTest
/// @notice The high-water mark's monotonic queue against the definition it implements, a brute-force maximum: after
///         every sample the mark is the largest of all samples taken at a time `t > now - window` (the latest of
///         equal ones), and the queue holds at most one sample per second of the window.
contract FundWatermarkTest is TestBase {
    event GasUsed(string what, uint256 gas);

    struct Sample {
        uint256 time;
        int256 equity;
    }

    /// @dev Fuzzed paths of up to 64 samples: steps of 0 s (several samples in one block) to 2 windows, equities
    ///      drawn from a small range (ties are common) and from a wide one.
    function testFuzz_markIsTheLargestSampleOfTheWindow(uint256 seed, uint32 window) public {
        window = uint32(bound(window, 60, 30 days));
        WatermarkHarness h = new WatermarkHarness();
        Sample[] memory all = new Sample[](64);
        uint256 now_ = 1_700_000_000;
        for (uint256 i; i < 64; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 kind = r % 4;
            now_ += kind == 0 ? 0 : kind == 1 ? (r >> 8) % 5 : (r >> 8) % (2 * uint256(window) + 1);
            int256 equity = (r >> 128) % 2 == 0 ? int256((r >> 130) % 7) - 3 : int256(uint256(uint128(r >> 130))) - 2 ** 120;
            all[i] = Sample(now_, equity);
            (int256 hwm, uint256 hwmTime) = h.sample(now_, window, equity);
            // the brute force: the largest sample still in the window, the latest of equal maxima
            int256 best = type(int256).min;
            uint256 bestTime;
            for (uint256 j; j <= i; ++j) {
                if (all[j].time + window > now_ && all[j].equity >= best) {
                    best = all[j].equity;
                    bestTime = all[j].time;
                }
            }
            assertEq(hwm, best, "the mark is the largest sample of the window");
            assertEq(hwmTime, bestTime, "the mark's time is that sample's (the latest of equal ones)");
            assertLe(h.tail() - h.head(), uint256(window) + 1, "at most one live sample per second of the window");
        }
    }

    /// @notice The worst case for one sample: 4,096 strictly falling samples, one a second, all inside a 2-hour window,
    ///         then one that is larger than all of them (it replaces the whole queue) and one that expires half of it.
    ///         Both ends are binary searches, so neither costs more than a few dozen storage reads.
    function test_oneSampleCostsLogarithmicWorkAfterALongFall() public {
        WatermarkHarness h = new WatermarkHarness();
        uint256 t0 = 1_700_000_000;
        for (uint256 i; i < 4096; ++i) {
            h.sample(t0 + i, 2 hours, int256(10_000 - i));
        }
        assertEq(h.tail() - h.head(), 4096, "every falling sample is kept");
        uint256 g = gasleft();
        (int256 hwm,) = h.sample(t0 + 4096, 2 hours, 20_000);
        uint256 replaceAll = g - gasleft();
        assertEq(hwm, 20_000, "the larger sample is the mark");
        assertEq(h.tail() - h.head(), 1, "and the only sample left");
        for (uint256 i; i < 4096; ++i) {
            h.sample(t0 + 4097 + i, 2 hours, int256(10_000 - i));
        }
        g = gasleft();
        (hwm,) = h.sample(t0 + 4097 + 2 hours + 2048, 2 hours, -1);
        uint256 expireHalf = g - gasleft();
        // alive: times > now - 2 h, i.e. the second fall's samples from i = 2,049 on (equity 10,000 - 2,049)
        assertEq(hwm, 7_951, "the oldest sample left in the window is the mark");
        emit GasUsed("a sample that replaces 4,096 samples", replaceAll);
        emit GasUsed("a sample that expires 2,048 samples", expireHalf);
        assertLe(replaceAll, 70_000, "gas of a sample that replaces 4,096");
        assertLe(expireHalf, 70_000, "gas of a sample that expires 2,048");
    }
}
