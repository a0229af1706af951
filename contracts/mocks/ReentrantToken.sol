// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice Test token that, once armed, calls `target` with `data` in the middle of every transfer and bubbles
///         up any revert: the protocol's `nonReentrant` guard must stop the nested call.
contract ReentrantToken is ERC20 {
    uint8 private immutable _decimals;
    address public target;
    bytes public data;
    bool private _inHook;

    constructor(uint8 decimals_) ERC20("Reentrant Token", "RE") {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function faucet(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook (or disarms it with `target_ == address(0)`).
    function setHook(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (target != address(0) && !_inHook && from != address(0)) {
            _inHook = true;
            (bool ok, bytes memory ret) = target.call(data);
            _inHook = false;
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }
}
