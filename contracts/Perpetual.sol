// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {PerpStorage} from "./base/PerpStorage.sol";
import {MarginModule} from "./modules/MarginModule.sol";
import {TradingModule} from "./modules/TradingModule.sol";
import {QueueModule} from "./modules/QueueModule.sol";
import {PerpetualRisk} from "./PerpetualRisk.sol";

/// @title Perpetual
/// @notice Perpetual futures on one collateral token: isolated-margin positions in several markets, trading by
///         matched EIP-712 orders, liquidation into a per-market insurance fund, and ranked auto-deleveraging.
///         This is the address users call for everything (`IPerpetual`); it holds all storage and all tokens.
/// @dev Two halves, so that each stays well under the 24 KiB code-size limit with room to grow: this contract
///      (margin `modules/MarginModule.sol`, trading `modules/TradingModule.sol`, the ADL queue's upkeep
///      `modules/QueueModule.sol`, accounting and oracle `base/PerpBase.sol`) and `PerpetualRisk` (liquidation,
///      insurance fund, ADL; it forwards market administration and queue reads to `PerpetualAdmin`), to which the fallback below forwards every
///      other call by delegatecall. Both inherit the one storage layout `base/PerpStorage.sol`.
contract Perpetual is MarginModule, TradingModule, QueueModule {
    /// @notice The risk half (liquidation, insurance fund, ADL), run by delegatecall on this contract's storage.
    address public immutable risk;

    constructor(IERC20Metadata collateral_, address owner_, PerpetualRisk risk_)
        PerpStorage(collateral_, collateral_.decimals())
        Ownable(owner_)
    {
        if (address(risk_.collateral()) != address(collateral_)) revert PartMismatch(address(risk_));
        risk = address(risk_);
    }

    /// @dev Every function of `IPerpetualRisk` (and its views) runs in `PerpetualRisk`'s code on this storage.
    fallback() external {
        address target = risk;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}
