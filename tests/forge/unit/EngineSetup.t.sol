// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {bound} from "../utils/TestBase.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {MockStablecoin} from "../../../contracts/mocks/MockStablecoin.sol";
import {PerpetualAdmin} from "../../../contracts/PerpetualAdmin.sol";
import {PerpetualRisk} from "../../../contracts/PerpetualRisk.sol";
import {AdlQueue} from "../../../contracts/libraries/AdlQueue.sol";
import {AdlRanking} from "../../../contracts/libraries/AdlRanking.sol";
import {Position} from "../../../interfaces/IPerpetualTypes.sol";

/// @notice The risk part with doors for the test: one that writes a queue side's bitmap and head keys (and the
///         side's index and the market's reference price) straight into storage, one that runs the ADL engine's
///         set-up and returns its cursor heap, and one that writes a position and returns the storage words the
///         engine reads for it.
contract EngineHarness is PerpetualRisk {
    constructor(IERC20Metadata collateral_, PerpetualAdmin admin_) PerpetualRisk(collateral_, admin_) {}

    function setSide(bool isLong, uint256 bitmap, uint256[] calldata words, int128 index, uint8 refShift) external {
        AdlQueue.Side storage side = _queues[1][isLong];
        side.bitmap = bitmap;
        for (uint256 w; w < words.length; ++w) {
            side.headKeys[w] = words[w];
        }
        if (isLong) _markets[1].longIndex = index;
        else _markets[1].shortIndex = index;
        _markets[1].refShift = refShift;
    }

    /// @return heap the set-up's cursors in heap order, each as (node, known: the head key, tier, bound)
    function setUpHeap(bool isLong, uint256 mark) external view returns (uint256[4][] memory heap) {
        Engine memory e = _engine(1, isLong, mark);
        heap = new uint256[4][](e.heapSize);
        uint256[] memory h = e.heap;
        for (uint256 i; i < e.heapSize; ++i) {
            Cursor memory c;
            uint256 at = h[i];
            assembly ("memory-safe") {
                c := at
            }
            heap[i] = [uint256(uint160(c.node)), c.known, c.tier, c.bound];
        }
    }

    /// @return w0 the word at the engine's slot of the position (`_positionSlot`), w1 the next one, and its queue word
    function positionWords(address account, Position calldata p)
        external
        returns (uint256 w0, uint256 w1, uint256 queue)
    {
        _positions[1][account] = p;
        Engine memory e = _engine(1, true, 1);
        uint256 slot = _positionSlot(e, account);
        assembly ("memory-safe") {
            w0 := sload(slot)
            w1 := sload(add(slot, 1))
        }
        queue = _queueWord(slot);
    }
}

/// @title EngineSetupTest
/// @notice The ADL engine's set-up (`AdlModule._pushLists`, assembly) builds exactly the heap that pushing, list by
///         list in list order, a cursor with `AdlRanking.bound` of the list's head key would build with a plain
///         sift-up: the same cursors in the same heap positions, for random sides (any lists in use, any head keys,
///         the overflow list included), either side, any usable mark, index and reference price.
contract EngineSetupTest {
    EngineHarness internal harness;

    function setUp() public {
        MockStablecoin token = new MockStablecoin("USD", "USD", 6);
        harness = new EngineHarness(IERC20Metadata(address(token)), new PerpetualAdmin(IERC20Metadata(address(token))));
    }

    /// @notice The literals `_pushLists` and `_deferAlong` write for the queue's constants (Yul cannot name them) are
    ///         those constants.
    function test_setUp_literals_are_the_queue_constants() public pure {
        require(AdlQueue.KEY_SHIFT == 33 && AdlQueue.KEY_BIAS == 2 ** 96, "key encoding");
        require(AdlQueue.STEP_BITS == 3 && AdlQueue.TOP_TIER == 241 && AdlQueue.OVERFLOW == 242, "lists");
        require(AdlQueue.edgeNum(AdlQueue.TOP_TIER) == 8 << 30 && AdlQueue.Q_BITS == 23, "edges");
        require(AdlQueue.Q_DOWN_BITS == 22, "a node's qDown"); // AdlModule._deferAlong's node bounds
    }

    /// @notice The engine reads a position as raw words (`AdlModule._examine`, `_advance`): size and cost basis in the
    ///         first, margin, opening sequence and index snapshot in the second, `next | key | qDown` in the queue
    ///         word. Any `Position` written through Solidity reads back through those words field by field.
    function testFuzz_engine_reads_the_position_layout(address account, Position calldata p) public {
        (uint256 w0, uint256 w1, uint256 queue) = harness.positionWords(account, p);
        require(int128(uint128(w0)) == p.size && int128(uint128(w0 >> 128)) == p.openNotional, "size, cost basis");
        require(uint96(w1) == p.margin && uint40(w1 >> 96) == p.openSeq, "margin, opening sequence");
        require(int104(uint104(w1 >> 152)) == p.indexSnapshot, "index snapshot");
        require(address(uint160(queue)) == p.next, "next");
        require(uint64(queue >> 160) == p.key && uint32(queue >> 224) == p.qDown, "key, qDown");
    }

    function testFuzz_setUp_heap_is_the_pushes_of_AdlRanking_bounds(
        uint256 bitmapSeed,
        uint256 keySeed,
        bool isLong,
        uint256 markSeed,
        int256 indexSeed,
        uint256 refSeed
    ) public {
        uint256 lists = AdlQueue.OVERFLOW + 1;
        uint256 bitmap = bitmapSeed & ((1 << lists) - 1);
        if (keySeed % 4 == 0) bitmap |= 1 << AdlQueue.OVERFLOW; // the overflow list in use, a quarter of the runs
        uint256 mark = bound(markSeed, 1, 2 ** 95);
        int256 index = int256(bound(uint256(indexSeed), 0, 2 ** 95)) - 2 ** 94;
        uint8 refShift = uint8(bound(refSeed, 0, 95));
        int256 fp = AdlRanking.framePrice(isLong, mark, index);
        // the key of the frame price: keys around it give both signs of the gain and bounds of every size
        uint256 atPrice = uint256(fp + AdlQueue.KEY_BIAS) >> AdlQueue.KEY_SHIFT;
        uint256 nWords = AdlQueue.headKeyWord(AdlQueue.OVERFLOW) + 1;
        uint256[] memory words = new uint256[](nWords);
        for (uint256 w; w < nWords; ++w) {
            uint256 r = uint256(keccak256(abi.encode(keySeed, w)));
            for (uint256 lane; lane < 4; ++lane) {
                uint256 key = uint64(r >> (64 * lane)); // any key, or (three times in four) one near the price
                if ((r >> (62 + 64 * lane)) & 3 != 0) key = atPrice + (key % (1 << 24)) - (1 << 23);
                words[w] |= uint256(uint64(key)) << (64 * lane);
            }
        }
        harness.setSide(isLong, bitmap, words, int128(index), refShift);

        uint256[4][] memory got = harness.setUpHeap(isLong, mark);

        // the reference: every list in use, in list order, pushed with AdlRanking.bound and a plain sift-up
        uint256[4][] memory want = new uint256[4][](lists);
        uint256 n;
        for (uint256 t; t < lists; ++t) {
            if (bitmap & (1 << t) == 0) continue;
            uint256 key = AdlQueue.keyInWord(words[AdlQueue.headKeyWord(t)], t);
            uint256 b = AdlRanking.bound(isLong, key, t, fp, refShift);
            if (b == 0) continue;
            uint256 i = n++;
            while (i != 0 && want[(i - 1) / 2][3] < b) {
                want[i] = want[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            want[i] = [uint256(0), key, t, b];
        }
        require(got.length == n, "cursor count");
        for (uint256 i; i < n; ++i) {
            for (uint256 f; f < 4; ++f) {
                require(got[i][f] == want[i][f], "cursor differs");
            }
        }
    }
}
