// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "../../utils/Vm.sol";
import {HandlerBase} from "./HandlerBase.sol";
import {World} from "../World.sol";
import {FundingParams, MarketParams} from "../../../../interfaces/IPerpetualTypes.sol";
import {IPerpetualErrors} from "../../../../interfaces/IPerpetual.sol";

/// @title OracleHandler
/// @notice The oracle: moves within the trading band, gaps and crashes beyond it (both ways), time passing (which
///         makes a price stale until the feed posts again), and a return towards the starting price so that runs
///         do not drift to degenerate prices.
contract OracleHandler is HandlerBase {
    constructor(World world_) HandlerBase(world_) {}

    function _set(uint256 index, int256 answer) internal {
        int256 base = world.basePrice(index);
        if (answer < base / 10) answer = base / 10;
        if (answer > base * 10) answer = base * 10;
        world.setPrice(index, answer);
    }

    /// @notice A move of up to 4% either way (inside the 5% trading band).
    function move(uint256 market, uint256 bps, bool up) external {
        uint256 index = _marketIndex(market);
        int256 p = world.price(index);
        int256 d = p * int256(_pick(bps, 1, 400)) / 10_000;
        _set(index, up ? p + d : p - d);
    }

    /// @notice A gap of 5% to 60% either way: positions jump past their bankruptcy price.
    function gap(uint256 market, uint256 pct, bool up) external {
        uint256 index = _marketIndex(market);
        int256 p = world.price(index);
        int256 d = p * int256(_pick(pct, 5, 60)) / 100;
        _set(index, up ? p + d : p - d);
    }

    /// @notice Back to within 20% of the starting price.
    function recover(uint256 market, uint256 pct) external {
        uint256 index = _marketIndex(market);
        int256 base = world.basePrice(index);
        _set(index, base * int256(_pick(pct, 80, 120)) / 100);
    }

    /// @notice Time passes (1 s to 12 h); prices older than the market's maximum age become unusable.
    function warp(uint256 secs) external {
        vm.warp(block.timestamp + _pick(secs, 1, 12 hours));
        world.afterWarp();
    }

    /// @notice The feed posts its current answer again (fresh timestamp).
    function refresh(uint256 market) external {
        uint256 index = _marketIndex(market);
        world.setPrice(index, world.price(index));
    }
}

/// @title FundHandler
/// @notice Anyone topping up a market's insurance fund.
contract FundHandler is HandlerBase {
    constructor(World world_) HandlerBase(world_) {}

    function topUp(uint256 market, uint256 amount) external {
        world.topUp(_marketIndex(market) + 1, _pick(amount, 1, 5_000 * world.one()));
    }
}

/// @title AdminHandler
/// @notice The owner changing parameters within their hard bounds (risk limit, drawdown lines, maintenance
///         margin) and pausing markets; every change it makes is valid, so a revert is a violation.
contract AdminHandler is HandlerBase {
    constructor(World world_) HandlerBase(world_) {}

    function _params(uint256 m) internal view returns (MarketParams memory p) {
        (,, p,) = perp.marketInfo(m);
    }

    function _apply(uint256 m, MarketParams memory p) internal {
        vm.prank(world.owner());
        try perp.setMarketParams(m, p) {} catch {
            world.violate("a valid parameter change reverted");
        }
    }

    function setRiskLimit(uint256 market, uint256 amount) external {
        uint256 m = _marketIndex(market) + 1;
        MarketParams memory p = _params(m);
        p.maxFundNotional = uint128(_pick(amount, 1_000, 2_000_000) * world.one());
        _apply(m, p);
    }

    function setDrawdownLines(uint256 market, uint256 trigger, uint256 stop) external {
        uint256 m = _marketIndex(market) + 1;
        MarketParams memory p = _params(m);
        p.drawdownTrigger = uint64(_pick(trigger, 5, 60) * 1e16);
        p.drawdownStop = uint64(_pick(stop, 0, p.drawdownTrigger / 1e16 - 1) * 1e16);
        _apply(m, p);
    }

    /// @notice Maintenance margin between 1% and just below the margin-call line.
    function setMaintenance(uint256 market, uint256 bps) external {
        uint256 m = _marketIndex(market) + 1;
        MarketParams memory p = _params(m);
        p.mmr = uint64(_pick(bps, 100, p.mcr / 1e14 - 1) * 1e14);
        _apply(m, p);
    }

    /// @notice Funding on (an hour to 8 hours, a cap of 0.01%-2% per period, a change up to the cap), or off one time
    ///         in eight: the side indices then move with every touch in a new second.
    function setFunding(uint256 market, uint256 seed) external {
        uint256 m = _marketIndex(market) + 1;
        FundingParams memory f;
        if (seed % 8 != 0) {
            uint64 cap = uint64([uint256(1e14), 1e15, 5e15, 2e16][(seed >> 3) % 4]);
            f = FundingParams(uint32([uint256(3600), 4 hours, 8 hours][(seed >> 5) % 3]), cap, cap);
        }
        vm.prank(world.owner());
        try perp.setFundingParams(m, f) {
            world.hit(f.period == 0 ? "funding_off" : "funding_on");
        } catch (bytes memory err) {
            // the change reads the mark it applies the rate to: a stale oracle stops it, nothing else may
            if (bytes4(err) != IPerpetualErrors.StaleOraclePrice.selector) world.violate("a valid funding change reverted");
        }
    }

    /// @notice Pauses a market one time in four, unpauses it otherwise (so that markets mostly trade).
    function setPaused(uint256 market, uint256 seed) external {
        vm.prank(world.owner());
        perp.setPaused(_marketIndex(market) + 1, seed % 4 == 0);
    }
}
