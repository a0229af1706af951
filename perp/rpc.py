"""Compatibility home of the JSON-RPC contract client: it lives in ``perp.chain.rpc`` (with ``perp.chain.logs`` for
log paging and ``perp.chain.tx`` for sending transactions)."""
from .chain.abi import abi_type
from .chain.rpc import Contract, Rpc, RpcError

__all__ = ["Contract", "Rpc", "RpcError", "abi_type"]
