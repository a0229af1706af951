"""Planting inconsistencies in a deployment's storage (anvil_setStorageAt), for the audit tests. Slots are found by
probing the mapping's base slot, so the tests do not depend on the inheritance layout."""
from brownie import web3
from eth_abi import encode
from eth_utils import keccak


def storage(address, key) -> int:
    return int.from_bytes(web3.eth.get_storage_at(address, key), "big")


def plant(address, key, value: int) -> None:
    web3.provider.make_request(
        "anvil_setStorageAt", [address, "0x" + bytes(key).hex(), "0x" + (value % 2**256).to_bytes(32, "big").hex()]
    )


def account_slot(perp, account, free):
    """The key of `_accounts[account]` (free collateral in the low 128 bits), found by probing the base slot."""
    for base in range(64):
        key = keccak(encode(["address", "uint256"], [str(account), base]))
        value = storage(perp.address, key)
        if value and value & (2**128 - 1) == free:
            return key
    raise AssertionError("free-collateral slot not found")


def position_slot(perp, market_id, account):
    """The key of `_positions[market][account]` slot 0 (size low 128 bits, openNotional high 128 bits)."""
    size = perp.getPosition(market_id, account)[0]
    for base in range(64):
        outer = keccak(encode(["uint256", "uint256"], [market_id, base]))
        key = keccak(encode(["address"], [str(account)]) + outer)
        raw = storage(perp.address, key)
        if raw and raw & (2**128 - 1) == size % 2**128:
            return key
    raise AssertionError("position slot not found")


def fund_cash_slot(perp, market_id):
    """The key of `_markets[market].fundCash`, found where three consecutive slots hold cash, size, cost basis."""
    cash, size, on = perp.fundAccount(market_id)[:3]
    for base in range(64):
        start = int.from_bytes(keccak(encode(["uint256", "uint256"], [market_id, base])), "big")
        for offset in range(16):
            key = (start + offset).to_bytes(32, "big")
            if storage(perp.address, key) != cash % 2**256:
                continue
            nxt = (start + offset + 1).to_bytes(32, "big")
            nxt2 = (start + offset + 2).to_bytes(32, "big")
            if storage(perp.address, nxt) == size % 2**256 and storage(perp.address, nxt2) == on % 2**256:
                return key
    raise AssertionError("fund cash slot not found")
