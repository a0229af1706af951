"""Contract artifacts and ABIs: the compiled project (``build/contracts/*.json``, written by ``brownie compile``)
found from any working directory, a real ERC-20 ABI for the collateral (any token, not the mock), and the ABI type
strings and struct decoders used by ``perp.chain.rpc``."""
from __future__ import annotations

import json
import os
import re
from collections import namedtuple
from functools import lru_cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the project folder that holds perp/ and build/


class ArtifactError(RuntimeError):
    """A compiled artifact that cannot be found or used; the message says what to do."""


def build_dir() -> Path:
    """The folder of compiled artifacts: ``$PERP_BUILD`` if set, else ``<project>/build/contracts`` next to this
    package, else ``./build/contracts`` (so the library works from any working directory)."""
    env = os.environ.get("PERP_BUILD")
    if env:
        return Path(env)
    for candidate in (PACKAGE_ROOT / "build" / "contracts", Path.cwd() / "build" / "contracts"):
        if candidate.is_dir():
            return candidate
    return PACKAGE_ROOT / "build" / "contracts"


@lru_cache(maxsize=None)
def _artifact(path: str) -> dict:
    return json.loads(Path(path).read_text())


def load_artifact(name: str) -> dict:
    """The Brownie artifact of contract ``name`` (abi, bytecode, linkReferences, ...)."""
    path = build_dir() / f"{name}.json"
    if not path.exists():
        raise ArtifactError(f"contract artifact {path} not found: compile the project first (`make setup` then "
                            f"`brownie compile`, or any make target such as `make deploy`), or set PERP_BUILD")
    try:
        return _artifact(str(path))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"contract artifact {path} is not valid JSON ({exc}): recompile (`brownie compile`)")


# The protocol is three contracts behind one address (README, "Layout"): Perpetual forwards what it does not implement
# to PerpetualRisk, which forwards the rest to PerpetualAdmin, all on Perpetual's storage.
PROTOCOL_PARTS = ("Perpetual", "PerpetualRisk", "PerpetualAdmin")


def load_abi(name: str) -> list:
    """The ABI of contract ``name`` (``"ERC20"`` gives the bundled standard ERC-20 ABI; ``"Perpetual"`` the whole
    protocol as users see it at the Perpetual address: the three parts' functions, events and errors, once each)."""
    if name == "ERC20":
        return ERC20_ABI
    if name == "Perpetual":
        return protocol_abi()
    return load_artifact(name)["abi"]


def protocol_abi() -> list:
    """The merged ABI of ``PROTOCOL_PARTS`` (constructors and fallbacks of the parts left out)."""
    out, seen = [], set()
    for part in PROTOCOL_PARTS:
        for item in load_artifact(part)["abi"]:
            if item.get("type") in ("constructor", "fallback", "receive"):
                continue
            sig = (item.get("type"), item.get("name"), tuple(abi_type(i) for i in item.get("inputs", [])))
            if sig not in seen:
                seen.add(sig)
                out.append(item)
    return out


def linked_bytecode(name: str, libraries: dict) -> str:
    """The creation bytecode of ``name`` with every library placeholder replaced by its address
    (``libraries``: library name -> address); a missing library is an error that names it."""
    art = load_artifact(name)
    code = art["bytecode"]
    code = code[2:] if code.startswith("0x") else code
    for _source, libs in (art.get("linkReferences") or {}).items():
        for lib, refs in libs.items():
            if lib not in libraries:
                raise ArtifactError(f"{name} needs library {lib} deployed first (pass libraries={{'{lib}': address}})")
            address = libraries[lib].lower().removeprefix("0x")
            for ref in refs:
                start = ref["start"] * 2
                code = code[:start] + address + code[start + ref["length"] * 2:]
    if "__" in code:
        raise ArtifactError(f"{name} bytecode still has an unlinked library placeholder")
    return "0x" + code


def abi_type(inp: dict) -> str:
    """The canonical ABI type string of one input/output (tuples expanded)."""
    if inp["type"].startswith("tuple"):
        return f"({','.join(abi_type(c) for c in inp['components'])}){inp['type'][5:]}"
    return inp["type"]


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """``openNotional`` -> ``open_notional`` (ABI component names as Python attribute names)."""
    return _CAMEL.sub(r"_\1", name.lstrip("_")).lower()


@lru_cache(maxsize=None)
def _struct_class(type_name: str, fields: tuple):
    return namedtuple(type_name, fields)


def _struct_name(inp: dict) -> str:
    internal = inp.get("internalType") or ""
    name = internal.split()[-1].split(".")[-1].split("[")[0] if internal else ""
    return name if name.isidentifier() else "Struct"


def decoder(inp: dict):
    """A function that turns eth-abi's raw value for ``inp`` into named tuples (``Position(size=..., ...)``)
    wherever the ABI names the components; other values pass through."""
    kind = inp["type"]
    if not kind.startswith("tuple"):
        return None
    comps = inp["components"]
    names = tuple(snake(c.get("name") or "") for c in comps)
    subs = [decoder(c) for c in comps]
    named = all(n.isidentifier() for n in names) and len(set(names)) == len(names)
    cls = _struct_class(_struct_name(inp), names) if named else None

    def one(raw):
        vals = [s(v) if s else v for s, v in zip(subs, raw)]
        return cls._make(vals) if cls else tuple(vals)

    depth = kind.count("[")
    if depth == 0:
        return one

    def many(raw, d=depth):
        if d == 0:
            return one(raw)
        return [many(x, d - 1) for x in raw]

    return many


def outputs_decoder(outputs: list):
    """Decodes a function's outputs: one value as itself, several as a named tuple of the output names (when all
    are named), structs by their component names."""
    subs = [decoder(o) for o in outputs]
    names = tuple(snake(o.get("name") or "") for o in outputs)
    named = len(outputs) > 1 and all(n.isidentifier() for n in names) and len(set(names)) == len(names)
    cls = _struct_class("Result", names) if named else None

    def decode_values(values):
        vals = [s(v) if s else v for s, v in zip(subs, values)]
        if len(vals) == 1:
            return vals[0]
        return cls._make(vals) if cls else tuple(vals)

    return decode_values


def _fn(name, inputs, outputs, mutability):
    return {"type": "function", "name": name, "stateMutability": mutability,
            "inputs": [{"name": n, "type": t, "internalType": t} for n, t in inputs],
            "outputs": [{"name": n, "type": t, "internalType": t} for n, t in outputs]}


def _ev(name, inputs):
    return {"type": "event", "name": name, "anonymous": False,
            "inputs": [{"name": n, "type": t, "indexed": i, "internalType": t} for n, t, i in inputs]}


# The standard ERC-20 interface with the optional metadata (EIP-20), and OpenZeppelin 5's custom errors: what the
# protocol needs from any collateral token (the mock stablecoin adds only a faucet).
ERC20_ABI = [
    _fn("name", [], [("", "string")], "view"),
    _fn("symbol", [], [("", "string")], "view"),
    _fn("decimals", [], [("", "uint8")], "view"),
    _fn("totalSupply", [], [("", "uint256")], "view"),
    _fn("balanceOf", [("account", "address")], [("", "uint256")], "view"),
    _fn("allowance", [("owner", "address"), ("spender", "address")], [("", "uint256")], "view"),
    _fn("transfer", [("to", "address"), ("value", "uint256")], [("", "bool")], "nonpayable"),
    _fn("approve", [("spender", "address"), ("value", "uint256")], [("", "bool")], "nonpayable"),
    _fn("transferFrom", [("from", "address"), ("to", "address"), ("value", "uint256")], [("", "bool")],
        "nonpayable"),
    _ev("Transfer", [("from", "address", True), ("to", "address", True), ("value", "uint256", False)]),
    _ev("Approval", [("owner", "address", True), ("spender", "address", True), ("value", "uint256", False)]),
    {"type": "error", "name": "ERC20InsufficientBalance", "inputs": [
        {"name": "sender", "type": "address"}, {"name": "balance", "type": "uint256"},
        {"name": "needed", "type": "uint256"}]},
    {"type": "error", "name": "ERC20InsufficientAllowance", "inputs": [
        {"name": "spender", "type": "address"}, {"name": "allowance", "type": "uint256"},
        {"name": "needed", "type": "uint256"}]},
]
