// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {vm} from "./Vm.sol";
import {Order} from "../../../interfaces/IPerpetualTypes.sol";

/// @title Orders
/// @notice EIP-712 order digests computed from the typed-data definition (not read from the contract), signed
///         with `vm.sign` as a wallet would sign them.
library Orders {
    bytes32 internal constant ORDER_TYPEHASH = keccak256(
        "Order(address account,uint256 marketId,bool isBuy,uint256 size,uint256 limitPrice,uint256 leverage,"
        "bool reduceOnly,bool isMaker,uint256 nonce,uint256 epoch,uint256 expiry)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function digest(address perp, Order memory o) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("ADL Perpetual"), keccak256("1"), block.chainid, perp)
        );
        bytes32 structHash = keccak256(
            abi.encode(
                ORDER_TYPEHASH, o.account, o.marketId, o.isBuy, o.size, o.limitPrice, o.leverage, o.reduceOnly, o.isMaker,
                o.nonce, o.epoch, o.expiry
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function sign(uint256 key, address perp, Order memory o) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest(perp, o));
        return abi.encodePacked(r, s, v);
    }
}
