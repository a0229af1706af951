// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {PerpStorage} from "./base/PerpStorage.sol";
import {MarketModule} from "./modules/MarketModule.sol";
import {QueueViewModule} from "./modules/QueueViewModule.sol";
import {MarketViewModule} from "./modules/MarketViewModule.sol";
import {FundAccountModule} from "./modules/FundAccountModule.sol";

/// @title PerpetualAdmin
/// @notice The third part of the protocol, reached through `Perpetual` like `PerpetualRisk` (which forwards what it
///         does not implement here): the markets' administration (`modules/MarketModule.sol`: listing, parameters
///         and funding within hard bounds, oracle, pause), the reads of markets, positions and the ADL queue
///         (`modules/MarketViewModule.sol`, `modules/QueueViewModule.sol`) and the insurance fund's account
///         (`modules/FundAccountModule.sol`: top-ups, pokes, its stored state). Nothing on a trade's or a
///         liquidation's path lives here.
/// @dev Runs by delegatecall on Perpetual's storage (the same `PerpStorage` layout). Called directly, it has no
///      owner of consequence and no market.
contract PerpetualAdmin is MarketModule, QueueViewModule, MarketViewModule, FundAccountModule {
    constructor(IERC20Metadata collateral_) PerpStorage(collateral_, collateral_.decimals()) Ownable(msg.sender) {}
}
