// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "./Vm.sol";

/// @title TestBase
/// @notice What the suite needs from a test base (forge-std is not installable offline): failing assertions with
///         the numbers in the message, input bounding for fuzzed arguments, and the target lists Foundry's
///         invariant runner reads (`targetContracts`, `targetSelectors`).
abstract contract TestBase {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetContracts;
    FuzzSelector[] private _targetSelectors;

    /// @dev Foundry treats a contract as a test contract when it exposes this.
    bool public constant IS_TEST = true;

    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }

    function _target(address target, bytes4[] memory selectors) internal {
        _targetContracts.push(target);
        _targetSelectors.push(FuzzSelector(target, selectors));
    }

    // ------------------------------------------------------------------ assertions

    function assertTrue(bool ok, string memory what) internal pure {
        if (!ok) revert(what);
    }

    function assertEq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) revert(string.concat(what, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(int256 a, int256 b, string memory what) internal pure {
        if (a != b) revert(string.concat(what, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(address a, address b, string memory what) internal pure {
        if (a != b) revert(string.concat(what, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(bytes32 a, bytes32 b, string memory what) internal pure {
        if (a != b) revert(what);
    }

    function assertGe(int256 a, int256 b, string memory what) internal pure {
        if (a < b) revert(string.concat(what, ": ", vm.toString(a), " < ", vm.toString(b)));
    }

    function assertLe(uint256 a, uint256 b, string memory what) internal pure {
        if (a > b) revert(string.concat(what, ": ", vm.toString(a), " > ", vm.toString(b)));
    }
}

/// @notice `x` mapped into [lo, hi] (a uniform-enough fold of a fuzzed word; lo <= hi).
function bound(uint256 x, uint256 lo, uint256 hi) pure returns (uint256) {
    if (hi <= lo) return lo;
    uint256 span = hi - lo;
    if (span == type(uint256).max) return x;
    return lo + x % (span + 1);
}
