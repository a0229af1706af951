// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IPerpetualRisk} from "../../interfaces/IPerpetual.sol";
import {Position, DistressReason} from "../../interfaces/IPerpetualTypes.sol";
import {PerpMath} from "../libraries/PerpMath.sol";
import {AdlQueue} from "../libraries/AdlQueue.sol";
import {AdlRanking} from "../libraries/AdlRanking.sol";
import {InsuranceFundModule} from "./InsuranceFundModule.sol";

/// @title AdlModule
/// @notice Auto-deleveraging in the SPEC's exact order, at a cost that does not grow with the market. The opposite
///         side's positions sit in the ADL queue (`libraries/AdlQueue.sol`: tiers of margin per unit of cost basis,
///         each sorted by entry); the engine below merges the tiers best-first by their score bounds and computes
///         exact scores only for the positions that can be next, so each fill examines a handful of positions
///         whatever the size of the side. Nobody supplies the order, so nobody can get it wrong.
/// @dev The overflow list (positions cut by ADL, stale keys, unsorted) is one more list whose bound is unlimited, so
///      every entry of it is examined before anything else is handed out.
///      Work per transaction is bounded (`MAX_EXAMINED` positions read, `MAX_FILLS` fills). What one call cannot do
///      continues: Type 1 hands the rest of the bankrupt size to the fund (which a Type 2 can then shed), Type 2
///      reverts with `AdlWorkLimit` and the caller asks for less with `deleverageFund(marketId, maxSize)`.
///      A ranked position is cut by at most its own size, and by at most what keeps its margin non-negative after
///      realizing PnL at the fill price; a position that cannot be cut at all at that price is passed over.
abstract contract AdlModule is InsuranceFundModule {
    using SafeCast for uint256;

    uint8 internal constant ADL_TYPE_BANKRUPT = 1;
    uint8 internal constant ADL_TYPE_FUND = 2;
    /// @notice Most positions one ADL call examines (tier heads, list nodes and the overflow list).
    uint256 public constant MAX_EXAMINED = 400;
    /// @notice Most fills one ADL call makes.
    uint256 public constant MAX_FILLS = 64;

    // ------------------------------------------------------------------ the engine

    /// @dev One list's position in the merge: the next unexamined node (address(0) before the list's head account is
    ///      loaded), what the engine already knows of it (`known`: the head key, from the set-up, while the head
    ///      account is not loaded; then the node's queue word, `next | key | qDown` as storage holds it, read once
    ///      when the cursor reached it), and the bound on every score from there to the end of the list (0 once
    ///      nothing further can be eligible). A node passed over for now (its own bound below the best candidate's
    ///      score) waits as a one-node cursor (`tier == DEFERRED`, `known` its position's storage slot) with that
    ///      bound, and is examined in full if its bound ever becomes the highest.
    struct Cursor {
        address node;
        uint256 known;
        uint256 tier;
        uint256 bound;
    }

    uint256 private constant DEFERRED = type(uint256).max;
    /// @dev Room the engine's heaps start with beyond the lists in use (cursors) and in all (candidates), so that the
    ///      deferred nodes and candidates of a dense book (24 positions read for one fill at N = 100,000, 64 for ten)
    ///      rarely make a heap grow (each growth copies it).
    uint256 private constant CURSOR_ROOM = 32;
    uint256 private constant CANDIDATE_ROOM = 16;
    /// @dev The word of a `Position` (interfaces/IPerpetualTypes.sol) that holds its queue links: `next` in bits
    ///      0-159, `key` in 160-223, `qDown` in 224-255 (`tests/forge/unit/EngineSetup.t.sol` checks the layout).
    uint256 private constant QUEUE_WORD = 2;

    /// @dev The merge state of one ADL call, in memory: the cursors in a binary max-heap by bound (`heap` holds
    ///      the memory addresses of the `Cursor`s, its first `heapSize` words in use; cursors whose bound fell to 0
    ///      leave it), and the candidates whose score is known (`cands`: addresses of `AdlRanking.Candidate`s, a
    ///      binary heap in queue order, its first `nCands` words in use). Addresses rather than structs, and the heap
    ///      moves in assembly below: the same pushes and sifts (so the same nodes are examined, as the reference model
    ///      mirrors), without a bounds check and a second indirection on every comparison.
    struct Engine {
        uint256 marketId;
        uint256 positions; // the storage slot of `_positions[marketId]`: a position's slot is one hash away
        bool isLong; // the side being deleveraged (the counterparties)
        uint256 mark;
        uint256 d;
        int256 index; // the side's cumulative index
        int256 framePrice; // the side's frame price (AdlRanking.framePrice), against which keys bound scores
        uint256 refShift;
        uint256[] heap;
        uint256 heapSize;
        uint256[] cands;
        uint256 nCands;
        uint256 examined;
        uint256 ranked; // candidates handed out so far: the next one's rank minus one
        bool outOfWork;
    }

    function _engine(uint256 marketId, bool isLong, uint256 mark) internal view returns (Engine memory e) {
        e.marketId = marketId;
        e.isLong = isLong;
        e.mark = mark;
        e.d = PerpMath.WAD * _scale;
        mapping(address => Position) storage positions = _positions[marketId];
        uint256 positionsSlot;
        assembly ("memory-safe") {
            positionsSlot := positions.slot
        }
        e.positions = positionsSlot;
        Market storage mkt = _markets[marketId];
        e.index = isLong ? mkt.longIndex : mkt.shortIndex;
        e.framePrice = AdlRanking.framePrice(isLong, mark, e.index);
        e.refShift = mkt.refShift;
        _setUpCursors(e, _queues[marketId][isLong]);
        e.cands = new uint256[](CANDIDATE_ROOM);
    }

    /// @dev One cursor per list of `side` in use (the heap has room for all of them), pushed in list order, a word of
    ///      head keys (AdlQueue.headKeyWord) at a time: each word read once.
    function _setUpCursors(Engine memory e, AdlQueue.Side storage side) private view {
        uint256 bitmap = side.bitmap;
        uint256[] memory heap = e.heap = new uint256[](_popcount(bitmap) + CURSOR_ROOM);
        uint256 size = 0;
        int256 biasedFp = e.framePrice + AdlQueue.KEY_BIAS;
        while (bitmap != 0) {
            uint256 w = AdlQueue.headKeyWord(_lowestBit(bitmap));
            uint256 first = AdlQueue.firstListOfWord(w);
            size = _pushLists(heap, size, side.headKeys[w], first, (bitmap >> first) & 0xf, e.isLong, biasedFp, e.refShift);
            bitmap &= type(uint256).max << AdlQueue.firstListOfWord(w + 1);
        }
        e.heapSize = size;
    }

    /// @dev Pushes a cursor for each list `first + j` whose bit j of `lanes` is set (j = 0..3; its head key in lane j
    ///      of `word`, its bound as `AdlRanking.bound` gives it; none when the bound is 0) onto the first `size`
    ///      entries of `heap`, in list order, sifting each up as `_deferAlong` does; returns the new size. `biasedFp` is the
    ///      frame price plus `AdlQueue.KEY_BIAS`. In assembly: the engine sets up every list in use (35 in the
    ///      benchmark's book from N = 100 on), and with the bound and the sift-up as function calls that set-up cost
    ///      11k more there (one Type 1 fill at N = 10,000: 309,973 -> 298,041). The inlined bound is
    ///      AdlRanking.bound's arithmetic (the tier's edge, `AdlQueue.edgeNum`, then `AdlRanking._bound`'s one
    ///      rounded-up division), the sift-up is `_deferAlong`'s, and the queue's constants are literals (Yul cannot name
    ///      them, and locals for them do not fit the stack of the unoptimized build Slither compiles):
    ///      tests/forge/unit/EngineSetup.t.sol checks the literals against AdlQueue's constants and the heap against
    ///      pushes of `AdlRanking.bound`, cursor by cursor.
    function _pushLists(
        uint256[] memory heap,
        uint256 size,
        uint256 word,
        uint256 first,
        uint256 lanes,
        bool isLong,
        int256 biasedFp,
        uint256 refShift
    ) private pure returns (uint256) {
        assembly ("memory-safe") {
            for { let j := 0 } lt(j, 4) { j := add(j, 1) } {
                if iszero(and(shr(j, lanes), 1)) { continue }
                let t := add(first, j)
                let key := and(shr(shl(6, j), word), 0xffffffffffffffff) // AdlQueue.keyInWord
                let b := not(0) // OVERFLOW (242): the overflow list's bound is unlimited
                if iszero(eq(t, 242)) {
                    // gain = frame entry - frame price (short), its negative (long): key << KEY_SHIFT (33) is the
                    // frame entry plus KEY_BIAS (AdlQueue.keyPrice)
                    let gain := sub(shl(33, key), biasedFp)
                    if isLong { gain := sub(0, gain) }
                    b := 0
                    if sgt(gain, 0) {
                        // AdlQueue.edgeNum: the bottom tier 0 has none (no bound), TOP_TIER (241) 8 << 30, tier t in
                        // between (8 + (t - 1) % 8) << ((t - 1) / 8) (STEP_BITS 3)
                        let q := shl(30, 8)
                        if lt(t, 241) { q := shl(shr(3, sub(t, 1)), add(8, and(sub(t, 1), 7))) }
                        if iszero(t) { q := 0 }
                        let den := shl(refShift, q)
                        b := not(0)
                        // AdlRanking._bound: WAD << Q_BITS (23) per unit of gain over q << refShift, rounded up (a
                        // gain no stored value reaches saturates)
                        if and(iszero(iszero(den)), lt(gain, shl(128, 1))) {
                            let x := mul(gain, shl(23, 1000000000000000000))
                            b := add(div(x, den), gt(mod(x, den), 0))
                        }
                    }
                }
                if b {
                    // a new Cursor(node 0, key, tier, bound) at the free memory pointer, sifted up (as `_deferAlong` does)
                    let c := mload(0x40)
                    mstore(0x40, add(c, 0x80))
                    mstore(c, 0)
                    mstore(add(c, 0x20), key)
                    mstore(add(c, 0x40), t)
                    mstore(add(c, 0x60), b)
                    let h := add(heap, 0x20)
                    let i := size
                    for {} i {} {
                        let parent := shr(1, sub(i, 1))
                        let p := mload(add(h, shl(5, parent)))
                        if iszero(lt(mload(add(p, 0x60)), b)) { break }
                        mstore(add(h, shl(5, i)), p)
                        i := parent
                    }
                    mstore(add(h, shl(5, i)), c)
                    size := add(size, 1)
                }
            }
        }
        return size;
    }

    /// @dev The bound of the cursor at the top of the heap (nonempty), and the xDown of the best candidate (nonempty).
    function _topBound(Engine memory e) private pure returns (uint256 b) {
        uint256[] memory heap = e.heap;
        assembly ("memory-safe") {
            b := mload(add(mload(add(heap, 0x20)), 0x60))
        }
    }

    function _bestX(Engine memory e) private pure returns (uint256 x) {
        uint256[] memory cands = e.cands;
        assembly ("memory-safe") {
            x := mload(add(mload(add(cands, 0x20)), 0xa0))
        }
    }

    /// @dev Reads one position (at storage slot `slot`: `_positionSlot`); an eligible one (u > 0 at mark) becomes a
    ///      candidate. Its first two words hold what the score needs: size and cost basis, then margin, opening
    ///      sequence and index snapshot (`Position`'s layout).
    function _examine(Engine memory e, address account, uint256 slot) private view {
        ++e.examined;
        (int256 size, int256 openNotional, uint256 margin, uint64 openSeq, int256 snapshot) = _readPosition(slot);
        int256 uD = AdlRanking.uTimesD(size, openNotional, e.mark, e.d, e.index, snapshot);
        if (uD <= 0) return;
        uint256 i = e.nCands++;
        uint256[] memory cands = e.cands = _roomFor(e.cands, i);
        AdlRanking.Candidate memory c =
            AdlRanking.candidate(account, uint256(uD), margin, PerpMath.abs(size), openSeq, e.d);
        uint256 at;
        assembly ("memory-safe") {
            at := c
        }
        _placeCandidate(cands, i, 0, at, true);
    }

    /// @dev The storage slot of the position of `account` in the engine's market (`_positions[marketId][account]`).
    function _positionSlot(Engine memory e, address account) internal pure returns (uint256 slot) {
        uint256 positions = e.positions;
        assembly ("memory-safe") {
            mstore(0, account)
            mstore(0x20, positions)
            slot := keccak256(0, 0x40)
        }
    }

    /// @dev What the engine needs of the position at storage slot `slot`, from its first two words as storage holds
    ///      them (`Position`'s layout: size and cost basis, then margin, opening sequence and index snapshot;
    ///      `tests/forge/unit/EngineSetup.t.sol` checks it).
    function _readPosition(uint256 slot)
        private
        view
        returns (int256 size, int256 openNotional, uint256 margin, uint64 openSeq, int256 snapshot)
    {
        uint256 w0;
        uint256 w1;
        assembly ("memory-safe") {
            w0 := sload(slot)
            w1 := sload(add(slot, 1))
        }
        return (
            int128(uint128(w0)), int128(uint128(w0 >> 128)), uint96(w1), uint40(w1 >> 96), int104(uint104(w1 >> 152))
        );
    }

    /// @dev The size of `account`'s position in the engine's market: the low half of its first word, read alone
    ///      (through `_readPosition` the unused second word is still read: about 200 gas a fill).
    function _positionSize(Engine memory e, address account) private view returns (int256 size) {
        uint256 slot = _positionSlot(e, account);
        uint256 w0;
        assembly ("memory-safe") {
            w0 := sload(slot)
        }
        return int128(uint128(w0));
    }

    /// @dev The queue word (`QUEUE_WORD`) of the position at storage slot `slot`.
    function _queueWord(uint256 slot) internal view returns (uint256 word) {
        assembly ("memory-safe") {
            word := sload(add(slot, QUEUE_WORD))
        }
    }

    /// @dev Takes the best candidate off the candidates' heap: the last one moves to the root and sifts down.
    function _popBest(Engine memory e) private pure returns (AdlRanking.Candidate memory best) {
        uint256[] memory cands = e.cands;
        uint256 n = --e.nCands;
        uint256 last;
        assembly ("memory-safe") {
            best := mload(add(cands, 0x20))
            last := mload(add(add(cands, 0x20), shl(5, n)))
        }
        _placeCandidate(cands, 0, n, last, false);
    }

    /// @dev The candidates are a binary heap in queue order (AdlRanking.ahead, the best first) of the memory addresses
    ///      of `AdlRanking.Candidate`s. Puts candidate `x` into the hole at `i`: sifting up (`up`: parents that x is
    ///      ahead of move down one level) or down the first `n` entries (the child ahead, the left one unless the
    ///      right is strictly ahead, moves up while it is ahead of x); x goes into the final hole. Addresses and
    ///      assembly rather than a struct array: no bounds check and no second indirection on every comparison.
    function _placeCandidate(uint256[] memory cands, uint256 i, uint256 n, uint256 x, bool up) private pure {
        assembly ("memory-safe") {
            // AdlRanking.ahead on two Candidates in memory (account, uD, margin, absSize, openSeq, xDown): u/E by
            // 512-bit cross-multiplication, then the larger size, then the older
            function ahead(a, b) -> r {
                let lo := mul(mload(add(a, 0x20)), mload(add(b, 0x40))) // uD_a * margin_b
                let mm := mulmod(mload(add(a, 0x20)), mload(add(b, 0x40)), not(0))
                let hi := sub(sub(mm, lo), lt(mm, lo))
                let lo2 := mul(mload(add(b, 0x20)), mload(add(a, 0x40))) // uD_b * margin_a
                let mm2 := mulmod(mload(add(b, 0x20)), mload(add(a, 0x40)), not(0))
                let hi2 := sub(sub(mm2, lo2), lt(mm2, lo2))
                switch eq(hi, hi2)
                case 0 { r := gt(hi, hi2) }
                default {
                    switch eq(lo, lo2)
                    case 0 { r := gt(lo, lo2) }
                    default {
                        let sa := mload(add(a, 0x60))
                        let sb := mload(add(b, 0x60))
                        switch eq(sa, sb)
                        case 0 { r := gt(sa, sb) }
                        default { r := lt(mload(add(a, 0x80)), mload(add(b, 0x80))) }
                    }
                }
            }

            let h := add(cands, 0x20)
            switch up
            case 0 {
                for {} 1 {} {
                    let l := add(shl(1, i), 1)
                    if iszero(lt(l, n)) { break }
                    let top := l
                    let t := mload(add(h, shl(5, l)))
                    let r := add(l, 1)
                    if lt(r, n) {
                        let pr := mload(add(h, shl(5, r)))
                        if ahead(pr, t) {
                            top := r
                            t := pr
                        }
                    }
                    if iszero(ahead(t, x)) { break }
                    mstore(add(h, shl(5, i)), t)
                    i := top
                }
            }
            default {
                for {} i {} {
                    let parent := shr(1, sub(i, 1))
                    let p := mload(add(h, shl(5, parent)))
                    if iszero(ahead(x, p)) { break }
                    mstore(add(h, shl(5, i)), p)
                    i := parent
                }
            }
            mstore(add(h, shl(5, i)), x)
        }
    }

    /// @dev The next position in queue order, or rank 0 when no eligible position is left. The cursor with the
    ///      highest bound is advanced while that bound could beat the best candidate so far (ties included), so the
    ///      candidate handed out is exactly the SPEC's next. When the work bound is reached first (`e.outOfWork`:
    ///      more than MAX_EXAMINED positions within the bounds' slack of the best, only an adversarial book of
    ///      near-ties does that), the best candidate examined so far is handed out: the order is then exact among
    ///      the examined positions and within the tier width (a score factor of 2^(1/8)) of every other, and the call
    ///      still makes progress (docs/design/adl-queue.md).
    function _next(Engine memory e) internal view returns (AdlRanking.Candidate memory best, uint256 rank) {
        while (true) {
            bool some = e.nCands != 0;
            if (e.heapSize != 0 && (!some || _topBound(e) >= _bestX(e))) {
                if (e.examined < MAX_EXAMINED) {
                    _advance(e, some);
                    continue;
                }
                e.outOfWork = true;
            }
            if (!some) return (best, 0);
            return (_popBest(e), ++e.ranked);
        }
    }

    /// @dev One step of the merge at the top cursor: a deferred node is examined in full; a list's next node is
    ///      examined in full if its own bound (key and q, its queue word) can beat the best candidate, else deferred;
    ///      then the list's cursor moves to the following node, whose queue word it keeps (one read per node passed).
    ///      While the cursor stays at the top and can still beat the best, the steps that follow in the same list
    ///      run here too (`_deferAlong`'s walk, and the full examinations it stops for), as `_next` would run them.
    function _advance(Engine memory e, bool some) private view {
        uint256 c; // the top cursor's address (Cursor: node, known, tier, bound)
        address node;
        uint256 known;
        uint256 tier;
        {
            uint256[] memory heap = e.heap;
            assembly ("memory-safe") {
                c := mload(add(heap, 0x20))
                node := mload(c)
                known := mload(add(c, 0x20))
                tier := mload(add(c, 0x40))
            }
        }
        if (tier == DEFERRED) {
            _examine(e, node, known);
            _popTop(e);
            return;
        }
        uint256 slot;
        if (node == address(0)) {
            node = AdlQueue.head(_queues[e.marketId][e.isLong], tier);
            slot = _positionSlot(e, node);
            known = _queueWord(slot);
        } else {
            slot = _positionSlot(e, node);
        }
        if (tier == AdlQueue.OVERFLOW || !some) {
            _examine(e, node, slot);
            _moveCursor(e, c, known, tier);
            return;
        }
        uint256 nb = AdlRanking.nodeBound(e.isLong, known, e.framePrice, e.refShift);
        if (nb >= _bestX(e)) {
            nb = EXAMINED;
        } else {
            e.heap = _roomFor(e.heap, e.heapSize); // deferred (below the top too: nb < the best <= the top's bound)
        }
        uint256 todo;
        while (true) {
            if (nb == EXAMINED) _examine(e, node, slot);
            todo = _deferAlong(e, c, node, slot, known, nb);
            if (todo != TODO_EXAMINE) break;
            assembly ("memory-safe") {
                node := mload(c)
                known := mload(add(c, 0x20))
            }
            slot = _positionSlot(e, node);
            nb = EXAMINED;
        }
        if (todo == TODO_POP) _popTop(e);
        else if (todo == TODO_SIFT) _siftDown(e.heap, 0, e.heapSize);
    }

    /// @dev What `_deferAlong` leaves to its caller besides nothing (0): sifting the top cursor down, taking it off
    ///      the heap, or examining in full the node it stands on (still at the top: its bound and the node's can beat
    ///      the best).
    uint256 private constant TODO_SIFT = 1;
    uint256 private constant TODO_POP = 2;
    uint256 private constant TODO_EXAMINE = 3;
    /// @dev `_deferAlong`'s `nb` for a node that was just examined in full: nothing to defer, the walk starts with
    ///      the move (a deferred node's bound is below the best candidate's xDown, so never this).
    uint256 private constant EXAMINED = 2 ** 256 - 1;
    /// @dev Offsets of `Engine`'s fields in memory (a memory struct is one word per field, in declaration order:
    ///      keep them in step with `Engine`).
    uint256 private constant E_POSITIONS = 0x20;
    uint256 private constant E_IS_LONG = 0x40;
    uint256 private constant E_FRAME_PRICE = 0xc0;
    uint256 private constant E_REF_SHIFT = 0xe0;
    uint256 private constant E_HEAP = 0x100;
    uint256 private constant E_HEAP_SIZE = 0x120;
    uint256 private constant E_CANDS = 0x140;
    uint256 private constant E_EXAMINED = 0x180;

    /// @dev The merge steps that a dense list takes one after another, in one loop: the node of the top list cursor `c`
    ///      (account `node` at storage slot `slot`, queue word `known`, own bound `nb` below the best candidate's
    ///      score) is deferred and the cursor moves to the following node (`_moveCursor`); while the cursor stays at
    ///      the top of the heap with a bound that can still beat the best, the following node is not due for a full
    ///      examination (its own bound below the best), the work bound is not reached and the heap has room, the same
    ///      step repeats there (the only place a node is deferred); when the following node is due for a full
    ///      examination, the walk stops there and says so (`TODO_EXAMINE`: the caller examines it and walks on).
    ///      Exactly the steps `_next` and `_advance` would take one at a time (same pushes, same sifts, same nodes
    ///      examined and counted), without going through them for every node: at N = 100,000 one fill passes about 20
    ///      nodes this way. `nb` is `EXAMINED` for a walk that starts at a node just examined in full (no push: the
    ///      move first). Assembly, with the bounds' arithmetic of `AdlRanking._bound` (list: `AdlRanking.bound`'s tier
    ///      edge, `AdlQueue.edgeNum`; node: its `qDown`) and the queue's constants as literals (KEY_SHIFT 33, KEY_BIAS
    ///      2^96, Q_BITS 23, Q_DOWN_BITS 22, STEP_BITS 3, TOP_TIER 241; the literals test in
    ///      tests/forge/unit/EngineSetup.t.sol checks them). The heap has room for the first push (the caller grows
    ///      it); a walk stops before a push the heap has no room for (the caller's next step grows it). Returns what is
    ///      left to do with the top cursor (`TODO_*`).
    function _deferAlong(Engine memory e, uint256 c, address node, uint256 slot, uint256 known, uint256 nb)
        private
        view
        returns (uint256 todo)
    {
        assembly ("memory-safe") {
            // AdlRanking._bound: (k - P') / (q R) (short), (P' - k) / (q R) (long) in WAD, rounded up, for the key
            // in bits 160-223 of `word` and q = qNum / 2^qBits (one = WAD << qBits); 0 when not in profit
            function bnd(word, qNum, one, eng) -> b {
                let gain := sub(
                    sub(shl(33, and(shr(160, word), 0xffffffffffffffff)), shl(96, 1)), // AdlQueue.keyPrice
                    mload(add(eng, E_FRAME_PRICE))
                )
                if mload(add(eng, E_IS_LONG)) { gain := sub(0, gain) }
                if sgt(gain, 0) {
                    let den := shl(mload(add(eng, E_REF_SHIFT)), qNum)
                    b := not(0)
                    if and(iszero(iszero(den)), lt(gain, shl(128, 1))) {
                        let x := mul(gain, one)
                        b := add(div(x, den), gt(mod(x, den), 0))
                    }
                }
            }
            let h := add(mload(add(e, E_HEAP)), 0x20)
            let cap := mload(sub(h, 0x20))
            let size := mload(add(e, E_HEAP_SIZE))
            let examined := mload(add(e, E_EXAMINED))
            let best := mload(add(mload(add(mload(add(e, E_CANDS)), 0x20)), 0xa0)) // the best candidate's xDown
            // AdlQueue.edgeNum of the cursor's tier (a sorted tier: the overflow list never gets here)
            let t := mload(add(c, 0x40))
            let edge := shl(30, 8) // TOP_TIER
            if lt(t, 241) { edge := shl(shr(3, sub(t, 1)), add(8, and(sub(t, 1), 7))) }
            if iszero(t) { edge := 0 }
            for {} 1 {} {
                // defer the node (examined counts it): a one-node cursor (bound nb, when positive: a cursor with
                // bound 0 can yield nothing) at the free memory pointer, sifted up (parents whose bound is below nb
                // move down one level; it goes into the final hole); none for a node examined in full
                // (a node examined in full was counted already: no push, and the count taken back; as a switch
                // this cost 87 gas more a fill at N = 100,000)
                if eq(nb, EXAMINED) { nb := 0 examined := sub(examined, 1) }
                examined := add(examined, 1)
                if nb {
                    let d := mload(0x40)
                    mstore(0x40, add(d, 0x80))
                    mstore(d, node)
                    mstore(add(d, 0x20), slot)
                    mstore(add(d, 0x40), not(0)) // DEFERRED
                    mstore(add(d, 0x60), nb)
                    let i := size
                    for {} i {} {
                        let parent := shr(1, sub(i, 1))
                        let p := mload(add(h, shl(5, parent)))
                        if iszero(lt(mload(add(p, 0x60)), nb)) { break }
                        mstore(add(h, shl(5, i)), p)
                        i := parent
                    }
                    mstore(add(h, shl(5, i)), d)
                    size := add(size, 1)
                }
                // _moveCursor: the following node's queue word, and the bound of the list from there
                node := and(known, 0xffffffffffffffffffffffffffffffffffffffff)
                known := 0
                let b := 0
                if node {
                    mstore(0, node)
                    mstore(0x20, mload(add(e, E_POSITIONS)))
                    slot := keccak256(0, 0x40)
                    known := sload(add(slot, QUEUE_WORD))
                    b := bnd(known, edge, shl(23, 1000000000000000000), e)
                }
                mstore(c, node)
                mstore(add(c, 0x20), known)
                mstore(add(c, 0x60), b)
                if iszero(b) {
                    todo := TODO_POP
                    break
                }
                // _siftDown moves the cursor when a child's bound is above its own
                if and(gt(size, 1), gt(mload(add(mload(add(h, 0x20)), 0x60)), b)) {
                    todo := TODO_SIFT
                    break
                }
                if and(gt(size, 2), gt(mload(add(mload(add(h, 0x40)), 0x60)), b)) {
                    todo := TODO_SIFT
                    break
                }
                // _next: the top can no longer beat the best, or the work bound is reached
                if lt(b, best) { break }
                if iszero(lt(examined, MAX_EXAMINED)) { break }
                // _advance: the node is due for a full examination, or the heap is full
                nb := bnd(known, shr(224, known), shl(22, 1000000000000000000), e)
                if iszero(lt(nb, best)) {
                    todo := TODO_EXAMINE
                    break
                }
                if eq(size, cap) { break }
            }
            mstore(add(e, E_HEAP_SIZE), size)
            mstore(add(e, E_EXAMINED), examined)
        }
    }

    /// @dev Moves the list cursor at `c` (in tier `tier`, at the node whose queue word is `known`) to the following
    ///      node: reads that node's queue word (kept in the cursor), bounds the rest of the list from its key
    ///      (`AdlRanking.bound`), and re-sifts the heap's top, or takes the cursor off it when nothing further in the
    ///      list can be eligible.
    function _moveCursor(Engine memory e, uint256 c, uint256 known, uint256 tier) private view {
        address nextNode = address(uint160(known));
        uint256 nextWord;
        uint256 bound;
        if (nextNode != address(0)) {
            nextWord = _queueWord(_positionSlot(e, nextNode));
            bound = AdlRanking.bound(e.isLong, uint64(nextWord >> 160), tier, e.framePrice, e.refShift);
        }
        assembly ("memory-safe") {
            mstore(c, nextNode)
            mstore(add(c, 0x20), nextWord)
            mstore(add(c, 0x60), bound)
        }
        if (bound == 0) _popTop(e);
        else _siftDown(e.heap, 0, e.heapSize);
    }

    // ------------------------------------------------------------------ the cursors' max-heap (by bound)

    function _popTop(Engine memory e) private pure {
        uint256[] memory heap = e.heap;
        uint256 n = --e.heapSize;
        assembly ("memory-safe") {
            mstore(add(heap, 0x20), mload(add(add(heap, 0x20), shl(5, n))))
        }
        _siftDown(heap, 0, n);
    }

    /// @dev Sifts the cursor at `i` down the first `n` entries of `heap`: while a child's bound is above its own, the
    ///      larger child (the left one on a tie) moves up one level; the cursor goes into the hole.
    function _siftDown(uint256[] memory heap, uint256 i, uint256 n) private pure {
        assembly ("memory-safe") {
            let h := add(heap, 0x20)
            let x := mload(add(h, shl(5, i)))
            let bx := mload(add(x, 0x60))
            for {} 1 {} {
                let l := add(shl(1, i), 1)
                if iszero(lt(l, n)) { break }
                let big := l
                let pb := mload(add(h, shl(5, l)))
                let bb := mload(add(pb, 0x60))
                let r := add(l, 1)
                if lt(r, n) {
                    let pr := mload(add(h, shl(5, r)))
                    let br := mload(add(pr, 0x60))
                    if gt(br, bb) {
                        big := r
                        pb := pr
                        bb := br
                    }
                }
                if iszero(gt(bb, bx)) { break }
                mstore(add(h, shl(5, i)), pb)
                i := big
            }
            mstore(add(h, shl(5, i)), x)
        }
    }

    /// @dev `a` if it has an entry at index `used`, else a copy of its first `used` entries twice as long.
    function _roomFor(uint256[] memory a, uint256 used) private pure returns (uint256[] memory grown) {
        if (used < a.length) return a;
        grown = new uint256[](2 * used);
        assembly ("memory-safe") {
            mcopy(add(grown, 0x20), add(a, 0x20), shl(5, used))
        }
    }

    function _popcount(uint256 x) private pure returns (uint256 n) {
        unchecked {
            while (x != 0) {
                x &= x - 1; // clears the lowest set bit (x != 0: no wrap)
                ++n;
            }
        }
    }

    function _lowestBit(uint256 x) private pure returns (uint256) {
        return Math.log2(x & (~x + 1));
    }

    // ------------------------------------------------------------------ Type 2

    /// @inheritdoc IPerpetualRisk
    function deleverageFund(uint256 marketId) external nonReentrant {
        _deleverageFund(marketId, type(uint256).max);
    }

    /// @inheritdoc IPerpetualRisk
    function deleverageFund(uint256 marketId, uint256 maxSize) external nonReentrant {
        if (maxSize == 0) revert ZeroAmount();
        _deleverageFund(marketId, maxSize);
    }

    /// @inheritdoc IPerpetualRisk
    function previewDeleverageFund(uint256 marketId, uint256 maxSize) external nonReentrant {
        Type2Outcome memory o = _type2(marketId, maxSize);
        revert Type2Preview(
            marketId, uint8(o.reason), o.equity, o.drawdown, o.price, o.required, o.filled, o.outOfWork
        );
    }

    /// @dev What one Type 2 call does, with the fills applied: the fund's sample, its distress reason, the Type 2
    ///      price, the required size (at most `maxSize`) and how much the ranked counterparties took before they ran
    ///      out or the call's work bound was reached. `deleverageFund` keeps it only when complete; the preview
    ///      always reverts with it.
    struct Type2Outcome {
        bool flat;
        DistressReason reason;
        int256 equity;
        uint256 drawdown;
        uint256 netNotional;
        uint256 price;
        uint256 required;
        uint256 filled;
        bool outOfWork;
    }

    function _type2(uint256 marketId, uint256 maxSize) private returns (Type2Outcome memory o) {
        Market storage mkt = _market(marketId);
        uint256 price = _markPrice(marketId, mkt);
        (o.equity, o.drawdown) = _updateWatermark(marketId, mkt, price);
        int256 fundSize = mkt.fundSize;
        o.flat = fundSize == 0;
        (o.reason, o.netNotional) = _distress(mkt, o.equity, price);
        if (o.flat) return o;
        o.price = _fundTradePrice(mkt, price);
        if (o.reason == DistressReason.None) return o;

        uint256 absSize = PerpMath.abs(fundSize);
        uint256 targetSize = 0; // flat, unless the risk limit is the only cause
        if (o.reason == DistressReason.RiskLimit) {
            // Down to the stop line below the risk limit.
            uint256 targetNotional = Math.mulDiv(mkt.params.maxFundNotional, mkt.params.notionalStop, PerpMath.WAD);
            targetSize = PerpMath.min(absSize, PerpMath.priceOf(targetNotional, price, _scale));
        }
        o.required = PerpMath.min(absSize - targetSize, maxSize);
        (o.filled, o.outOfWork) = _type2Fills(marketId, mkt, fundSize < 0, price, o.price, o.required);
    }

    function _deleverageFund(uint256 marketId, uint256 maxSize) private {
        Type2Outcome memory o = _type2(marketId, maxSize);
        if (o.flat) revert FundFlat(marketId);
        if (o.reason == DistressReason.None) revert FundNotDistressed(marketId, o.equity, o.drawdown, o.netNotional);
        if (o.filled != o.required) {
            if (o.outOfWork) revert AdlWorkLimit(marketId, o.required, o.filled);
            revert InsufficientAdlCapacity(marketId, o.required, o.filled);
        }
        _emitFund(marketId, _markets[marketId]);
    }

    /// @dev Type 2 fills against the ranked counterparties (longs if `cpIsLong`); returns the size filled.
    function _type2Fills(
        uint256 marketId,
        Market storage mkt,
        bool cpIsLong,
        uint256 price,
        uint256 tradePrice,
        uint256 required
    ) private returns (uint256 filled, bool outOfWork) {
        Engine memory e = _engine(marketId, cpIsLong, price);
        uint256 fills;
        while (filled != required && fills < MAX_FILLS) {
            (AdlRanking.Candidate memory c, uint256 rank) = _next(e);
            if (rank == 0) break;
            (uint256 q, uint256 n) = _adlCut(e, c.account, required - filled, tradePrice, e.d);
            if (q == 0) continue;
            int256 delta = cpIsLong ? -int256(q) : int256(q);
            _fillTrader(marketId, c.account, delta, n, 0, price);
            _fillFund(marketId, mkt, -delta, n);
            filled += q;
            ++fills;
            _afterAdlFill(e, c, ADL_TYPE_FUND, delta, tradePrice, n, rank);
        }
        outOfWork = e.outOfWork || (filled != required && fills == MAX_FILLS);
    }

    // ------------------------------------------------------------------ Type 1

    /// @dev Type 1: the refused position leaves its holder at its bankruptcy notional `nb` (margin ends at zero)
    ///      and is taken, piece by piece, by the ranked counterparties; the fund takes what they cannot, or what this
    ///      call's work bound leaves. A bankrupt position (no equity left) is taken at its bankruptcy price: its
    ///      deficit is what the counterparties pay for. A position that still has equity (`atMark`: the fund refused
    ///      it for its risk limit or its drawdown) is taken at mark, so nobody gains from it, and its remaining
    ///      equity goes to the fund's cash (OKX's rule; at the bankruptcy price it would be a windfall for the
    ///      top-ranked counterparties). Pieces are rounded against the counterparties and the difference between
    ///      `nb` and the pieces (the remaining equity, plus rounding dust, >= 0) is the fund's. Best-effort: never
    ///      reverts for lack of capacity.
    function _adlType1(
        uint256 marketId,
        Market storage mkt,
        address account,
        int256 size,
        uint256 nb,
        uint256 price,
        bool atMark
    ) internal {
        int256 cashBefore = mkt.fundCash;
        _fillTrader(marketId, account, -size, nb, 0, price);
        uint256 absSize = PerpMath.abs(size);
        // the take price per size unit, as a fraction: the bankruptcy notional over the size, or mark
        (uint256 num, uint256 den) = atMark ? (price, PerpMath.WAD * _scale) : (nb, absSize);
        (uint256 filled, uint256 pieces, bool outOfWork) = _type1Fills(marketId, size < 0, absSize, num, den, price);
        if (filled != absSize) {
            uint256 restAbs = absSize - filled;
            uint256 rest;
            if (!atMark) rest = nb > pieces ? nb - pieces : 0;
            else rest = Math.mulDiv(num, restAbs, den, size > 0 ? Math.Rounding.Ceil : Math.Rounding.Floor);
            int256 restSize = size > 0 ? int256(restAbs) : -int256(restAbs);
            _fillFund(marketId, mkt, restSize, rest);
            pieces += rest;
            if (outOfWork) emit AdlWorkLimitReached(marketId, account, restSize);
            emit AdlRemainderToFund(marketId, account, restSize);
        }
        // A refused short paid nb, the takers received `pieces` <= nb; a refused long received nb, the takers paid
        // `pieces` >= nb. Either way the difference (remaining equity and rounding dust) is the fund's.
        mkt.fundCash += size < 0 ? int256(nb) - int256(pieces) : int256(pieces) - int256(nb);
        _socializeLoss(marketId, mkt, account, size < 0, cashBefore);
    }

    /// @dev The waterfall's last layer. A Type 1 leaves the fund's cash below zero only when the rest of a bankrupt
    ///      position, which the ranked counterparties could not take, nets against the fund's own opposite position at
    ///      a realized loss beyond its cash. That loss (what this Type 1 took the cash below zero, or below where an
    ///      older deficit had left it) is spread over the open positions of the side that gained from the bankruptcy
    ///      (`longsPay`: the longs, opposite a bankrupt short), the fund's own position among them, per unit of size:
    ///      their index rises by `loss / openInterest` (rounded up: the rounding stays in the index balance), each pays
    ///      its share when next touched, and the fund's cash is back where it was (zero, or the older deficit). With no
    ///      open interest left (the fund was the last counterparty) nobody is left to pay: the loss stays in the fund's
    ///      cash (`LossUnsocialized`), which the market's fees and top-ups repay first (README, "The loss waterfall").
    function _socializeLoss(uint256 marketId, Market storage mkt, address account, bool longsPay, int256 cashBefore)
        private
    {
        int256 cash = mkt.fundCash;
        if (cash >= 0 || cash >= cashBefore) return;
        uint256 amount = uint256((cashBefore < 0 ? cashBefore : int256(0)) - cash);
        uint256 oi = mkt.openInterest;
        if (oi == 0) {
            emit LossUnsocialized(marketId, account, amount);
            return;
        }
        uint256 delta = Math.mulDiv(amount, PerpMath.WAD * _scale, oi, Math.Rounding.Ceil);
        int256 index = (longsPay ? mkt.longIndex : mkt.shortIndex) + delta.toInt256();
        if (index > MAX_INDEX) revert ValueOverflow(uint256(index));
        if (longsPay) mkt.longIndex = int128(index);
        else mkt.shortIndex = int128(index);
        mkt.indexBalance -= int128(int256(amount));
        mkt.fundCash = cash + int256(amount);
        emit LossSocialized(marketId, account, longsPay, amount, delta, index);
    }

    /// @dev Type 1 fills of a refused position of `absSize` against the ranked counterparties (longs if
    ///      `cpIsLong`) at `num / den` collateral units per size unit; returns the size they took and the notional
    ///      of their pieces.
    function _type1Fills(uint256 marketId, bool cpIsLong, uint256 absSize, uint256 num, uint256 den, uint256 price)
        private
        returns (uint256 filled, uint256 pieces, bool outOfWork)
    {
        uint256 eventPrice = Math.mulDiv(num, PerpMath.WAD * _scale, den); // the fill price (WAD), rounded down
        Engine memory e = _engine(marketId, cpIsLong, price);
        uint256 fills;
        while (filled != absSize && fills < MAX_FILLS) {
            (AdlRanking.Candidate memory c, uint256 rank) = _next(e);
            if (rank == 0) break;
            (uint256 q, uint256 n) = _adlCut(e, c.account, absSize - filled, num, den);
            if (q == 0) continue;
            int256 delta = cpIsLong ? -int256(q) : int256(q);
            _fillTrader(marketId, c.account, delta, n, 0, price);
            filled += q;
            pieces += n;
            ++fills;
            _afterAdlFill(e, c, ADL_TYPE_BANKRUPT, delta, eventPrice, n, rank);
        }
        outOfWork = e.outOfWork || (filled != absSize && fills == MAX_FILLS);
    }

    /// @dev After a fill of the ranked position `c`: a partial cut waits in the overflow list (`_toOverflow`); the
    ///      account's resting orders are cancelled; the fill and the position's new state are emitted.
    function _afterAdlFill(
        Engine memory e,
        AdlRanking.Candidate memory c,
        uint8 adlType,
        int256 delta,
        uint256 price,
        uint256 notional,
        uint256 rank
    ) private {
        uint256 marketId = e.marketId;
        if (_positionSize(e, c.account) != 0) _toOverflow(marketId, c.account, e.isLong);
        _bumpOrderEpoch(c.account);
        emit AdlFill(marketId, c.account, adlType, delta, price, notional, AdlRanking.score(c.uD, c.margin, e.d), rank);
        _emitPosition(marketId, c.account);
    }

    // ------------------------------------------------------------------ capacity and price

    /// @dev How much of `left` the ranked position of `account` takes at `num / den` collateral units per size unit,
    ///      and for what notional, rounded against it (selling, it is paid rounded down; buying, it pays rounded up);
    ///      (0, 0) when it cannot be cut at that price. Its cost basis counts what it owes its side's index (the
    ///      engine's: no fill moves a side's index). The position is read as the engine reads it (`_readPosition`:
    ///      two raw words it has just read; through the struct every field cost a slot read).
    function _adlCut(Engine memory e, address account, uint256 left, uint256 num, uint256 den)
        private
        view
        returns (uint256 q, uint256 n)
    {
        (int256 size, int256 on, uint256 margin,, int256 snapshot) = _readPosition(_positionSlot(e, account));
        on += _indexOwedUp(size, e.index, snapshot);
        q = PerpMath.min(left, _adlCapacity(size, margin, on, num, den));
        if (q == 0) return (0, 0);
        n = Math.mulDiv(num, q, den, e.isLong ? Math.Rounding.Floor : Math.Rounding.Ceil);
        // the fill must leave its margin >= 0 (exact check before the fill)
        (,,, int256 pnl) = _reduction(size, on, q, n);
        if (int256(margin) + pnl < 0) return (0, 0);
    }

    /// @dev Most a position of `size`, `margin` and settled cost basis `on` can be cut when it trades at
    ///      `priceNum / priceDen` collateral units per size unit (Type 1: the bankruptcy notional over the bankrupt
    ///      size, exactly; Type 2: the price over WAD * scale): all of it if closing there realizes no loss, otherwise
    ///      the size whose realized loss its margin covers, with two units kept back for the two roundings of a fill
    ///      (the piece notional and the released cost).
    function _adlCapacity(int256 size, uint256 margin, int256 on, uint256 priceNum, uint256 priceDen)
        internal
        pure
        returns (uint256)
    {
        uint256 absSize = PerpMath.abs(size);
        // Loss per size unit, as a fraction over priceDen * absSize: a long sells (loses cost - price), a short
        // buys back (loses price - proceeds, its proceeds being -on). Signed: index payments can take a cost basis
        // past zero.
        int256 atPrice = (priceNum * absSize).toInt256();
        int256 atCost = on * priceDen.toInt256();
        int256 lossNum = size > 0 ? atCost - atPrice : atPrice + atCost;
        if (lossNum <= 0) return absSize;
        if (margin <= 2) return 0;
        return PerpMath.min(absSize, Math.mulDiv(margin - 2, priceDen * absSize, uint256(lossNum)));
    }

    /// @dev Type 2 price: mark, capped at the fund's bankruptcy price so that its cash never goes negative
    ///      (a long fund sells no lower than where its equity is zero; a short fund buys no higher).
    ///      A fund whose cash is already negative (bad debt no counterparty could take) trades at mark: no price
    ///      keeps its cash >= 0 then, and a cap would hand counterparties up to their whole position (a short
    ///      fund's cap would reach zero), far beyond the fund's own entry.
    function _fundTradePrice(Market storage mkt, uint256 mark) internal view returns (uint256) {
        if (mkt.fundCash < 0) return mark;
        int256 size = mkt.fundSize;
        uint256 absSize = PerpMath.abs(size);
        if (size > 0) {
            int256 owed = mkt.fundOpenNotional - mkt.fundCash;
            if (owed <= 0) return mark;
            uint256 pfb = Math.mulDiv(uint256(owed), PerpMath.WAD * _scale, absSize, Math.Rounding.Ceil);
            return pfb > mark ? pfb : mark;
        }
        int256 covered = mkt.fundCash - mkt.fundOpenNotional;
        uint256 pfbShort = covered > 0 ? PerpMath.priceOf(uint256(covered), absSize, _scale) : 0;
        return pfbShort < mark ? pfbShort : mark;
    }
}
