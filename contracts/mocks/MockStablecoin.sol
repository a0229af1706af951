// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockStablecoin
/// @notice Devnet collateral with configurable decimals and an open faucet.
contract MockStablecoin is ERC20 {
    /// @notice Thrown when one faucet call asks for more than `MAX_FAUCET` whole tokens.
    error FaucetLimit(uint256 requested, uint256 limit);

    uint256 public constant MAX_FAUCET_TOKENS = 1e12;
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mints `amount` (token units) to `to`; anyone may call it on a devnet.
    function faucet(address to, uint256 amount) external {
        uint256 limit = MAX_FAUCET_TOKENS * 10 ** _decimals;
        if (amount > limit) revert FaucetLimit(amount, limit);
        _mint(to, amount);
    }
}
