"""Audits a deployment from its manifest: the state audit (perp/audit.py) and the event replay (perp/replay.py).

    python -m perp.audit_cli deployments/development-31337.json [--rpc URL] [--from-block N]

Prints every finding on one line (``[invariant] subject: detail``) and a summary. Exit status: 0 when clean, 1 on
any finding, 2 on a usage or connection error (missing or malformed manifest, node not answering, wrong chain,
no contract at the manifest's address, ABIs not built).

The node is ``--rpc``, else ``$PERP_RPC_URL``, else the manifest's ``rpc`` field, else http://127.0.0.1:8545.
The replay starts at the block that created the Perpetual contract (found with eth_getCode); ``--from-block``
overrides it (on a node that does not keep old state, pass the deployment block: a later start misses events and
shows up as mismatches).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

DEFAULT_RPC = "http://127.0.0.1:8545"
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A problem with the inputs or the node, reported in one readable message (exit 2)."""


def _load_manifest(path: Path) -> dict:
    if not path.exists():
        raise UsageError(
            f"manifest not found: {path}\n  deploy first (`make deploy`, `perp deploy` or `brownie run scripts/deploy.py`), which "
            f"writes deployments/<network>-<chainid>.json"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"manifest {path} is not readable JSON: {exc}") from None
    missing = [k for k in ("perpetual", "lens") if not isinstance(data, dict) or not data.get(k)]
    if missing:
        raise UsageError(f"manifest {path} lacks {', '.join(missing)} (is it a deployment manifest of `perp deploy` or "
                         f"scripts/deploy.py?)")
    return data


def _check_abis() -> None:
    from .chain.abi import build_dir

    build = build_dir()
    missing = [n for n in ("Perpetual", "PerpLens") if not (build / f"{n}.json").exists()]
    if missing:
        raise UsageError(
            f"contract ABIs not built ({', '.join(str(build / (n + '.json')) for n in missing)} missing): run "
            f"`make setup` and compile (`brownie compile`, or any make target such as `make deploy`)"
        )


def _connect(url: str):
    from web3 import Web3

    if url.startswith(("http://", "https://")):
        provider = Web3.HTTPProvider(url, request_kwargs={"timeout": 15})
    elif url.startswith(("ws://", "wss://")):
        raise UsageError(f"--rpc {url}: use the node's HTTP URL (http://host:port)")
    else:
        provider = Web3.IPCProvider(url)
    w3 = Web3(provider)
    try:
        response = w3.provider.make_request("eth_chainId", [])
    except Exception as exc:  # noqa: BLE001 - any transport error means the node does not answer
        text = str(exc)
        reason = "connection refused" if ("Errno 111" in text or "refused" in text.lower()) else (
            "timed out" if "timed out" in text.lower() else f"{type(exc).__name__}: {text[:160]}")
        raise UsageError(
            f"cannot reach an Ethereum node at {url}: {reason}\n"
            f"  start one (e.g. `anvil --port 8545`) or pass --rpc URL"
        ) from None
    if "error" in response:
        raise UsageError(f"the node at {url} refused eth_chainId: {response['error']}")
    return w3, int(response["result"], 16)


def _fmt_units(amount: int, decimals: int) -> str:
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**decimals)
    return f"{sign}{whole:,}" + (f".{frac:0{decimals}d}".rstrip("0").rstrip(".") if decimals else "")


def run(argv=None, out=sys.stdout, prog: str = "python -m perp.audit_cli") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest", type=Path, help="deployment manifest written by scripts/deploy.py")
    ap.add_argument("--rpc", help=f"node URL (default: $PERP_RPC_URL, the manifest's `rpc`, or {DEFAULT_RPC})")
    ap.add_argument("--from-block", type=int, help="first block to replay (default: the Perpetual's deployment block)")
    ap.add_argument("--to-block", type=int, help="last block to replay and to read state at (default: latest)")
    ap.add_argument("--page-size", type=int, default=5_000, help="blocks per eth_getLogs page (default 5000)")
    ap.add_argument("--after-keeper", action="store_true",
                    help="also require no position with equity < 0 (invariant 4: run after a keeper's pass)")
    ap.add_argument("--no-withdraw-check", action="store_true",
                    help="skip invariant 9 (an eth_call of withdraw(free collateral) from every account)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse prints its own message
        return EXIT_ERROR if exc.code else EXIT_CLEAN
    started = time.time()
    try:
        manifest = _load_manifest(args.manifest)
        _check_abis()
        url = args.rpc or os.environ.get("PERP_RPC_URL") or manifest.get("rpc") or DEFAULT_RPC
        w3, chain_id = _connect(url)
        if manifest.get("chain_id") is not None and int(manifest["chain_id"]) != chain_id:
            raise UsageError(
                f"the manifest is for chain id {manifest['chain_id']}, the node at {url} is chain {chain_id}: "
                f"pass the right --rpc"
            )
        from .replay import Replay, deployment_block
        from .rpc import RpcError

        code = w3.provider.make_request("eth_getCode", [manifest["perpetual"], "latest"]).get("result")
        if code in (None, "0x", "0x0"):
            raise UsageError(
                f"no contract at {manifest['perpetual']} on {url} (chain {chain_id}): the devnet was restarted or the "
                f"manifest belongs to another deployment; redeploy (`make deploy`) and audit the new manifest"
            )
        replay = Replay(w3, manifest["perpetual"], manifest["lens"], from_block=args.from_block,
                        to_block=args.to_block, page=max(1, args.page_size), after_keeper=args.after_keeper,
                        check_withdrawals=not args.no_withdraw_check)
        try:
            findings = replay.run()
        except RpcError as exc:
            raise UsageError(f"the node at {url} failed a request during the audit: {exc}") from None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR

    print(f"auditing {manifest['perpetual']} (lens {manifest['lens']}) on {url}, chain {chain_id}", file=out)
    if args.from_block is not None:
        deployed = deployment_block(replay.rpc, replay.perp.address, replay.to_block)
        if deployed < args.from_block:
            print(f"note: replay starts at block {args.from_block}, after the deployment (block {deployed}): "
                  f"earlier events are missing from the rebuilt state", file=out)
    for f in findings:
        print(str(f), file=out)
    snap = replay.snapshot
    decimals = int(manifest.get("collateral_decimals", 0) or 0) or (18 - len(str(replay.scale)) + 1)
    positions = len(snap.positions)
    print(
        f"state audit: vault {_fmt_units(snap.vault_balance, decimals)} collateral, {len(snap.free)} accounts, "
        f"{positions} open positions, {len(snap.funds)} markets",
        file=out,
    )
    print(replay.summary(), file=out)
    by_kind: dict = {}
    for f in findings:
        by_kind[f.invariant] = by_kind.get(f.invariant, 0) + 1
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
    verdict = "CLEAN" if not findings else f"{len(findings)} finding(s): {kinds}"
    print(f"result: {verdict} ({time.time() - started:.1f} s)", file=out)
    return EXIT_FINDINGS if findings else EXIT_CLEAN


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
