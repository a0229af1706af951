"""A thin, fast contract client over JSON-RPC (eth-abi encoding, no web3 middleware on the hot path).

web3.py's contract layer normalizes every value of every call through several Python passes; for the
simulation and the audit, which read hundreds of positions per step, that costs more than the node itself.
This client encodes calls with eth-abi, sends raw JSON-RPC through the web3 provider, and decodes results and
logs with eth-abi. Outputs have the same shapes as web3's (tuples for structs).
"""
from __future__ import annotations

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address


class RpcError(RuntimeError):
    def __init__(self, message: str, data: str | None = None):
        super().__init__(message)
        self.data = data


def abi_type(inp: dict) -> str:
    if inp["type"].startswith("tuple"):
        return f"({','.join(abi_type(c) for c in inp['components'])}){inp['type'][5:]}"
    return inp["type"]


class Rpc:
    """JSON-RPC through a web3 provider."""

    def __init__(self, w3):
        self.w3 = w3
        self.provider = w3.provider

    def request(self, method: str, params: list):
        response = self.provider.make_request(method, params)
        if "error" in response:
            err = response["error"]
            raise RpcError(err.get("message", str(err)), err.get("data"))
        return response["result"]

    def call(self, to: str, data: str, sender: str | None = None) -> bytes:
        tx = {"to": to, "data": data}
        if sender:
            tx["from"] = sender
        return bytes.fromhex(self.request("eth_call", [tx, "latest"])[2:])

    def estimate(self, to: str, data: str, sender: str) -> int:
        return int(self.request("eth_estimateGas", [{"from": sender, "to": to, "data": data}]), 16)

    def transact(self, to: str, data: str, sender: str, gas: int) -> dict:
        """Sends from an account the node holds unlocked (a devnet); returns the receipt."""
        tx_hash = self.request("eth_sendTransaction", [{"from": sender, "to": to, "data": data, "gas": hex(gas)}])
        receipt = self.request("eth_getTransactionReceipt", [tx_hash])
        if receipt is None:  # not automining: mine and fetch again
            self.request("evm_mine", [])
            receipt = self.request("eth_getTransactionReceipt", [tx_hash])
        return receipt


class Contract:
    """Encodes calls and decodes results, logs and custom errors for one ABI at one address."""

    def __init__(self, rpc: Rpc, address: str, abi: list):
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.functions = {}
        self.events = {}
        self.errors = {}
        for item in abi:
            kind = item.get("type")
            if kind == "function":
                types = [abi_type(i) for i in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self.functions[item["name"]] = (selector, types, [abi_type(o) for o in item["outputs"]])
            elif kind == "event":
                types = [abi_type(i) for i in item["inputs"]]
                topic = keccak(text=f"{item['name']}({','.join(types)})")
                self.events[topic] = item
            elif kind == "error":
                types = [abi_type(i) for i in item["inputs"]]
                self.errors[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)

    def data(self, name: str, *args) -> str:
        selector, types, _ = self.functions[name]
        return "0x" + (selector + encode(types, list(args))).hex()

    def call(self, name: str, *args, sender: str | None = None):
        _, _, outputs = self.functions[name]
        try:
            raw = self.rpc.call(self.address, self.data(name, *args), sender)
        except RpcError as exc:
            raise RpcError(f"{name} reverted: {self.decode_error(exc.data)}", exc.data) from None
        values = decode(outputs, raw)
        return values[0] if len(values) == 1 else values

    def decode_error(self, data) -> str:
        if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
            return str(data)
        raw = bytes.fromhex(data[2:])
        found = self.errors.get(raw[:4])
        if found is None:
            return f"revert 0x{raw.hex()}"
        name, types = found
        return f"{name}({', '.join(str(v) for v in decode(types, raw[4:]))})"

    def decode_log(self, log: dict):
        """(event name, args dict) for a log of this contract, or None."""
        if to_checksum_address(log["address"]) != self.address or not log["topics"]:
            return None
        item = self.events.get(bytes.fromhex(log["topics"][0][2:]))
        if item is None:
            return None
        indexed = [i for i in item["inputs"] if i.get("indexed")]
        plain = [i for i in item["inputs"] if not i.get("indexed")]
        args = {}
        for inp, topic in zip(indexed, log["topics"][1:]):
            args[inp["name"]] = decode([abi_type(inp)], bytes.fromhex(topic[2:]))[0]
        values = decode([abi_type(i) for i in plain], bytes.fromhex(log["data"][2:]))
        for inp, v in zip(plain, values):
            args[inp["name"]] = v
        ordered = {i["name"]: args[i["name"]] for i in item["inputs"]}
        return item["name"], ordered
