"""Reading a contract's history: logs in block-range pages (the page halved while a node refuses a range), and the
block that created a contract."""
from __future__ import annotations

from .rpc import Rpc, RpcError

LOG_PAGE = 5_000  # blocks per eth_getLogs page


def fetch_logs(rpc: Rpc, address: str, from_block: int, to_block: int, page: int = LOG_PAGE, on_page=None) -> list:
    """Every log of ``address`` in [from_block, to_block], in chain order, read in block-range pages. A page the
    node refuses (too many results, range too large) is halved until it passes; the page grows back after."""
    logs: list = []
    start, size = from_block, max(1, page)
    while start <= to_block:
        end = min(to_block, start + size - 1)
        try:
            got = rpc.request("eth_getLogs", [{"address": address, "fromBlock": hex(start), "toBlock": hex(end)}])
        except RpcError:
            if size == 1:
                raise
            size = max(1, size // 2)
            continue
        logs.extend(got)
        if on_page:
            on_page(start, end, len(got))
        start = end + 1
        size = min(page, size * 2)
    logs.sort(key=lambda lg: (int(lg["blockNumber"], 16), int(lg["logIndex"], 16)))
    return logs


def group_by_transaction(logs: list) -> list:
    """Consecutive logs of one transaction, as lists (logs in chain order); logs removed by a reorg are dropped."""
    out: list = []
    for log in logs:
        if log.get("removed"):
            continue
        if out and log["transactionHash"] == out[-1][0]["transactionHash"]:
            out[-1].append(log)
        else:
            out.append([log])
    return out


def deployment_block(rpc: Rpc, address: str, latest: int) -> int:
    """The block that created the contract at ``address`` (binary search on eth_getCode; needs a node that serves
    historical state, as Anvil does). 0 when the node cannot answer for old blocks."""
    try:
        if rpc.request("eth_getCode", [address, hex(latest)]) in ("0x", "0x0", None):
            return latest
        lo, hi = 0, latest
        while lo < hi:
            mid = (lo + hi) // 2
            if rpc.request("eth_getCode", [address, hex(mid)]) in ("0x", "0x0", None):
                lo = mid + 1
            else:
                hi = mid
        return lo
    except RpcError:
        return 0
