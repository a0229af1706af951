// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm, Vm} from "../../utils/Vm.sol";
import {bound} from "../../utils/TestBase.sol";
import {World} from "../World.sol";
import {SpecBook} from "../SpecBook.sol";
import {IPerpetual} from "../../../../interfaces/IPerpetual.sol";
import {PerpLens} from "../../../../contracts/PerpLens.sol";
import {Position} from "../../../../interfaces/IPerpetualTypes.sol";
import {IPerpetualEvents} from "../../../../interfaces/IPerpetual.sol";

/// @title HandlerBase
/// @notice What every actor's handler shares: the world, bounded picks of actors and markets, snapshots of the
///         book and of the flat accounts, and the checks of one ADL call against the SPEC's own order.
abstract contract HandlerBase {
    World internal immutable world;
    IPerpetual internal immutable perp;
    PerpLens internal immutable lens;
    uint256 internal immutable scale;

    constructor(World world_) {
        world = world_;
        perp = world_.perp();
        lens = world_.lens();
        scale = 10 ** (18 - uint256(world_.decimals()));
    }

    function _marketIndex(uint256 seed) internal pure returns (uint256) {
        return seed % 2;
    }

    function _trader(uint256 seed) internal view returns (address) {
        return world.traders(seed % 6);
    }

    function _mark(uint256 index) internal view returns (uint256) {
        return uint256(world.price(index)) * 1e10;
    }

    function _hasPrice(uint256 index) internal view returns (bool) {
        try perp.markPrice(index + 1) returns (uint256) {
            return true;
        } catch {
            return false;
        }
    }

    // ------------------------------------------------------------------ snapshots

    /// @notice The traders' positions on one side of a market (the fund is never an ADL counterparty).
    function _book(uint256 index, bool isLong, uint256 price) internal view returns (SpecBook.Entry[] memory book) {
        uint256 n;
        SpecBook.Entry[] memory all = new SpecBook.Entry[](6);
        int256 idx = _sideIndex(index + 1, isLong);
        for (uint256 i; i < 6; ++i) {
            address a = world.traders(i);
            Position memory p = perp.getPosition(index + 1, a);
            if (p.size == 0 || (p.size > 0) != isLong) continue;
            // the cost basis as the protocol values it: what the position owes its side's index settled
            all[n++] = SpecBook.Entry(
                a, p.size, _settledOn(p, idx), p.margin, p.openSeq,
                SpecBook.uTimesD(p.size, p.openNotional, price, scale, idx, p.indexSnapshot)
            );
        }
        book = new SpecBook.Entry[](n);
        for (uint256 i; i < n; ++i) {
            book[i] = all[i];
        }
    }

    /// @notice Free collateral of every account that holds no position in any market (bystanders of a keeper call).
    function _flatBalances() internal view returns (address[] memory flat, uint256[] memory free) {
        address[] memory all = world.accounts();
        flat = new address[](all.length);
        free = new uint256[](all.length);
        uint256 n;
        for (uint256 i; i < all.length; ++i) {
            if (all[i] == world.keeper()) continue; // the caller earns rewards
            if (perp.getPosition(1, all[i]).size != 0 || perp.getPosition(2, all[i]).size != 0) continue;
            flat[n] = all[i];
            free[n++] = perp.freeCollateral(all[i]);
        }
        assembly ("memory-safe") {
            mstore(flat, n)
            mstore(free, n)
        }
    }

    function _checkBystanders(address[] memory flat, uint256[] memory free, string memory action) internal {
        for (uint256 i; i < flat.length; ++i) {
            if (perp.freeCollateral(flat[i]) < free[i]) {
                world.violate(string.concat("bystander lost value in ", action, ": ", vm.toString(flat[i])));
            }
        }
    }

    /// @notice A hash of every stored balance and position the protocol keeps for the world's accounts and funds.
    function _digest() internal view returns (bytes32 h) {
        address[] memory all = world.accounts();
        for (uint256 i; i < all.length; ++i) {
            h = keccak256(abi.encode(h, perp.freeCollateral(all[i]), perp.orderEpoch(all[i])));
            for (uint256 m = 1; m <= 2; ++m) {
                h = keccak256(abi.encode(h, perp.getPosition(m, all[i])));
            }
        }
        for (uint256 m = 1; m <= 2; ++m) {
            (int256 cash, int256 size, int256 on, int256 hwm, uint64 ts, bool d) = perp.fundAccount(m);
            h = keccak256(abi.encode(h, cash, size, on, hwm, ts, d));
        }
    }

    // ------------------------------------------------------------------ ADL fills against the SPEC's order

    struct Fill {
        address account;
        uint8 adlType;
        int256 sizeDelta;
        uint256 price;
        uint256 rank;
    }

    /// @notice The AdlFill events of market `marketId` among `logs`.
    function _fills(Vm.Log[] memory logs, uint256 marketId) internal pure returns (Fill[] memory fills) {
        bytes32 sig = IPerpetualEvents.AdlFill.selector;
        uint256 n;
        fills = new Fill[](logs.length);
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory l = logs[i];
            if (l.topics.length != 4 || l.topics[0] != sig || uint256(l.topics[1]) != marketId) continue;
            (int256 delta, uint256 px,,, uint256 rank) = abi.decode(l.data, (int256, uint256, uint256, uint256, uint256));
            fills[n++] = Fill(address(uint160(uint256(l.topics[2]))), uint8(uint256(l.topics[3])), delta, px, rank);
        }
        assembly ("memory-safe") {
            mstore(fills, n)
        }
    }

    /// @notice Checks a call's ADL fills against the book before it (`book`, the counterparty side, valued at
    ///         `mark`): every filled account was eligible; fills follow the SPEC's queue order; every eligible
    ///         position ranked above the last fill was cut by as much as its margin allows at the fill price
    ///         (`SpecBook.capacityAt`: its whole size, or the part whose realized loss its margin covers), and
    ///         passed over only when that is nothing; each fill is at `price`; the rank reported is the queue
    ///         position. Returns the total size filled. (Type 1 fills report the bankruptcy price rounded, while
    ///         the contract cuts at the exact bankruptcy notional: capacities here may differ by one size unit.)
    function _checkOrder(SpecBook.Entry[] memory book, Fill[] memory fills, uint256 price, string memory what)
        internal
        returns (uint256 filled)
    {
        SpecBook.Entry[] memory q = SpecBook.queue(book, scale);
        uint256 next; // queue index the next fill may take at the earliest
        for (uint256 f; f < fills.length; ++f) {
            uint256 j = next;
            while (j < q.length && q[j].account != fills[f].account) {
                // passed over: its margin must not have allowed any cut at this price
                if (SpecBook.capacityAt(q[j], price, scale) > 1) {
                    world.violate(string.concat(what, ": passed over rank ", vm.toString(j + 1), " ", vm.toString(q[j].account)));
                }
                ++j;
            }
            if (j == q.length) {
                world.violate(string.concat(what, ": fill of an ineligible or out-of-order account ", vm.toString(fills[f].account)));
                return filled;
            }
            uint256 qty = fills[f].sizeDelta >= 0 ? uint256(fills[f].sizeDelta) : uint256(-fills[f].sizeDelta);
            uint256 size = q[j].size >= 0 ? uint256(q[j].size) : uint256(-q[j].size);
            if ((q[j].size > 0) == (fills[f].sizeDelta > 0)) world.violate(string.concat(what, ": fill adds exposure"));
            if (qty > size) world.violate(string.concat(what, ": fill larger than the position"));
            // all but the last fill take the whole position, or as much as its margin allows
            uint256 cap = SpecBook.capacityAt(q[j], price, scale);
            if (f + 1 < fills.length && qty < size && qty + 1 + cap / 1e6 < cap) {
                world.violate(string.concat(what, ": partial cut of rank ", vm.toString(j + 1), " before a lower rank"));
            }
            if (fills[f].price != price) world.violate(string.concat(what, ": fill price ", vm.toString(fills[f].price), " != ", vm.toString(price)));
            if (fills[f].rank != j + 1) world.violate(string.concat(what, ": reported rank ", vm.toString(fills[f].rank), " != queue rank ", vm.toString(j + 1)));
            filled += qty;
            next = j + 1;
        }
    }

    /// @notice A side's cumulative index (funding and socialized losses per unit of size) as a call now sees it:
    ///         the funding accrued to this second included.
    function _sideIndex(uint256 marketId, bool isLong) internal view returns (int256) {
        (,,,,, int256 longNow, int256 shortNow) = perp.fundingState(marketId);
        return isLong ? longNow : shortNow;
    }

    /// @notice A position's cost basis with what it owes its side's index settled, rounded against the holder (up).
    function _settledOn(Position memory p, int256 idx) internal view returns (int256) {
        int256 owedD = (p.size >= 0 ? int256(p.size) : -int256(p.size)) * (idx - p.indexSnapshot);
        int256 d = int256(1e18 * scale);
        return p.openNotional + (owedD >= 0 ? (owedD + d - 1) / d : -((-owedD) / d));
    }

    /// @notice A position's exact equity times D at `mark`, its index payments included.
    function _equityD(uint256 marketId, Position memory p, uint256 mark) internal view returns (int256) {
        return int256(uint256(p.margin) * 1e18 * scale)
            + SpecBook.uTimesD(p.size, p.openNotional, mark, scale, _sideIndex(marketId, p.size > 0), p.indexSnapshot);
    }

    /// @notice After ADL: no filled counterparty is left with negative equity at mark.
    function _checkCounterpartiesSolvent(Fill[] memory fills, uint256 index, string memory what) internal {
        uint256 mark = _mark(index);
        for (uint256 f; f < fills.length; ++f) {
            Position memory p = perp.getPosition(index + 1, fills[f].account);
            if (p.size == 0) continue;
            int256 equityD = _equityD(index + 1, p, mark);
            if (equityD < 0) world.violate(string.concat(what, ": counterparty left with negative equity ", vm.toString(fills[f].account)));
        }
    }

    function _pick(uint256 seed, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return bound(seed, lo, hi);
    }
}
