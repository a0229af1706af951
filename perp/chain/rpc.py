"""A thin, fast contract client over JSON-RPC (eth-abi encoding, no web3 middleware on the hot path).

web3.py's contract layer normalizes every value of every call through several Python passes; for the simulation,
the audit and the keeper, which read hundreds of positions per step, that costs more than the node itself. This
client encodes calls with eth-abi, sends raw JSON-RPC through any web3 provider, and decodes results, logs and
custom errors with eth-abi. Structs come back as named tuples built from the ABI's component names, in snake case
(``view.open_notional``, ``fund.high_water_mark``), so nothing reads a struct by position.
"""
from __future__ import annotations

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from .abi import abi_type, outputs_decoder

BATCH = 250  # JSON-RPC requests per batch


class RpcError(RuntimeError):
    """A JSON-RPC error answer (``data`` holds the revert data of a failed call, if any)."""

    def __init__(self, message: str, data: str | None = None):
        super().__init__(message)
        self.data = data


class Rpc:
    """JSON-RPC through a web3 provider (``Rpc(w3)``, or ``Rpc.http(url)``)."""

    def __init__(self, w3):
        self.w3 = w3
        self.provider = w3.provider

    @classmethod
    def http(cls, url: str, timeout: float = 30):
        from web3 import Web3

        return cls(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout})))

    def request(self, method: str, params: list):
        response = self.provider.make_request(method, params)
        if "error" in response:
            err = response["error"]
            if isinstance(err, dict):
                raise RpcError(err.get("message", str(err)), err.get("data"))
            raise RpcError(str(err))
        return response["result"]

    def batch(self, requests: list) -> list:
        """Results of many ``(method, params)`` requests, sent as JSON-RPC batches when the provider can; an entry
        is an ``RpcError`` when that request failed."""
        out: list = []
        make_batch = getattr(self.provider, "make_batch_request", None)
        for i in range(0, len(requests), BATCH):
            chunk = requests[i : i + BATCH]
            responses = None
            if make_batch is not None and len(chunk) > 1:
                try:
                    responses = make_batch(chunk)
                except Exception:  # noqa: BLE001 - a provider without batches: one by one below
                    responses = None
                if not isinstance(responses, list) or len(responses) != len(chunk):
                    responses = None
            if responses is None:
                responses = [self.provider.make_request(method, params) for method, params in chunk]
            for r in responses:
                if "error" in r:
                    e = r["error"]
                    out.append(RpcError(e.get("message", str(e)), e.get("data")) if isinstance(e, dict)
                               else RpcError(str(e)))
                else:
                    out.append(r["result"])
        return out

    def call(self, to: str, data: str, sender: str | None = None, block="latest") -> bytes:
        tx = {"to": to, "data": data}
        if sender:
            tx["from"] = sender
        return bytes.fromhex(self.request("eth_call", [tx, block_tag(block)])[2:])

    def estimate(self, to: str, data: str, sender: str) -> int:
        return int(self.request("eth_estimateGas", [{"from": sender, "to": to, "data": data}]), 16)

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def chain_id(self) -> int:
        return int(self.request("eth_chainId", []), 16)

    def code(self, address: str, block="latest") -> str:
        return self.request("eth_getCode", [address, block_tag(block)]) or "0x"


def block_tag(block) -> str:
    return block if isinstance(block, str) else hex(block)


class Contract:
    """Encodes calls and decodes results, logs and custom errors for one ABI at one address."""

    def __init__(self, rpc: Rpc, address: str, abi: list):
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.abi = abi
        self.functions = {}
        self.events = {}
        self.errors = {}
        for item in abi:
            kind = item.get("type")
            if kind == "function":
                types = [abi_type(i) for i in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                outputs = [abi_type(o) for o in item["outputs"]]
                # overloads (deleverageFund(m) / deleverageFund(m, maxSize)) are told apart by their argument count
                self.functions.setdefault(item["name"], []).append(
                    (selector, types, outputs, outputs_decoder(item["outputs"])))
            elif kind == "event":
                types = [abi_type(i) for i in item["inputs"]]
                topic = keccak(text=f"{item['name']}({','.join(types)})")
                plain = [i for i in item["inputs"] if not i.get("indexed")]
                self.events[topic] = (item, [abi_type(i) for i in plain], outputs_decoder(plain) if plain else None)
            elif kind == "error":
                types = [abi_type(i) for i in item["inputs"]]
                self.errors[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)

    def _function(self, name: str, nargs: int | None = None):
        try:
            entries = self.functions[name]
        except KeyError:
            raise AttributeError(f"{name} is not a function of the contract at {self.address}") from None
        if len(entries) == 1 or nargs is None:
            return entries[0]
        for entry in entries:
            if len(entry[1]) == nargs:
                return entry
        raise AttributeError(f"{name} takes {' or '.join(str(len(e[1])) for e in entries)} arguments, got {nargs}")

    def data(self, name: str, *args) -> str:
        selector, types, _, _ = self._function(name, len(args))
        return "0x" + (selector + encode(types, list(args))).hex()

    def decode_output(self, name: str, raw: bytes | str):
        _, _, outputs, named = self._function(name)
        if isinstance(raw, str):
            raw = bytes.fromhex(raw[2:] if raw.startswith("0x") else raw)
        return named(decode(outputs, raw))

    def call(self, name: str, *args, sender: str | None = None, block="latest"):
        try:
            raw = self.rpc.call(self.address, self.data(name, *args), sender, block)
        except RpcError as exc:
            raise RpcError(f"{name} reverted: {self.decode_error(exc.data)}", exc.data) from None
        return self.decode_output(name, raw)

    def calls(self, name: str, arg_list: list, senders: list | None = None, block="latest") -> list:
        """Many calls of ``name`` in JSON-RPC batches; an entry is an ``RpcError`` when that call reverted."""
        reqs = []
        for i, args in enumerate(arg_list):
            tx = {"to": self.address, "data": self.data(name, *args)}
            if senders:
                tx["from"] = senders[i]
            reqs.append(("eth_call", [tx, block_tag(block)]))
        return [r if isinstance(r, RpcError) else self.decode_output(name, r) for r in self.rpc.batch(reqs)]

    def decode_error(self, data) -> str:
        if isinstance(data, dict):  # some nodes nest the revert data
            data = data.get("data")
        if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
            return str(data)
        raw = bytes.fromhex(data[2:])
        found = self.errors.get(raw[:4])
        if found is None:
            return f"revert 0x{raw.hex()}"
        name, types = found
        return f"{name}({', '.join(str(v) for v in decode(types, raw[4:]))})"

    def decode_log(self, log: dict):
        """(event name, args dict keyed by the ABI's input names) for a log of this contract, or None."""
        if to_checksum_address(log["address"]) != self.address or not log["topics"]:
            return None
        topic0 = log["topics"][0]
        found = self.events.get(bytes.fromhex(topic0[2:]) if isinstance(topic0, str) else bytes(topic0))
        if found is None:
            return None
        item, plain_types, plain_decoder = found
        args = {}
        indexed = [i for i in item["inputs"] if i.get("indexed")]
        for inp, topic in zip(indexed, log["topics"][1:]):
            raw = bytes.fromhex(topic[2:]) if isinstance(topic, str) else bytes(topic)
            args[inp["name"]] = decode([abi_type(inp)], raw)[0]
        if plain_decoder is not None:
            data = log["data"]
            raw = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
            values = decode(plain_types, raw)
            plain = [i for i in item["inputs"] if not i.get("indexed")]
            decoded = plain_decoder(values)
            decoded = (decoded,) if len(plain) == 1 else decoded
            for inp, v in zip(plain, decoded):
                args[inp["name"]] = v
        return item["name"], {i["name"]: args[i["name"]] for i in item["inputs"]}
