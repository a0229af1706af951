// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {PerpStorage} from "./base/PerpStorage.sol";
import {LiquidationModule} from "./modules/LiquidationModule.sol";
import {PerpetualAdmin} from "./PerpetualAdmin.sol";

/// @title PerpetualRisk
/// @notice The risk part of the protocol: liquidation (`modules/LiquidationModule.sol`), the insurance fund
///         (`modules/InsuranceFundModule.sol`) and ADL (`modules/AdlModule.sol`). It is not called directly:
///         `Perpetual` forwards every call it does not implement itself here by delegatecall, so this code runs on
///         Perpetual's storage (the same `PerpStorage` layout) and users see one contract at one address; what this
///         part does not implement either goes on to `PerpetualAdmin` the same way.
/// @dev Deployed after `PerpetualAdmin` and before `Perpetual`. Called directly, it has no listed market, so every
///      entry point reverts (`UnknownMarket`) and it holds nothing.
contract PerpetualRisk is LiquidationModule {
    /// @notice Market administration and queue reads, run by delegatecall on the caller's (Perpetual's) storage.
    address public immutable admin;

    constructor(IERC20Metadata collateral_, PerpetualAdmin admin_)
        PerpStorage(collateral_, collateral_.decimals())
        Ownable(msg.sender)
    {
        if (address(admin_.collateral()) != address(collateral_)) revert PartMismatch(address(admin_));
        admin = address(admin_);
    }

    /// @dev Everything `PerpetualAdmin` implements, on the same storage.
    fallback() external {
        address target = admin;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}
