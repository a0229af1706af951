"""A fresh local Anvil for one command: started on a free port, stopped when the command ends, even on error.

    from perp.devnet import Devnet
    with Devnet() as node:            # node.url == "http://127.0.0.1:<free port>"
        ...

The npm package's ``anvil`` is a Node wrapper that spawns the native binary; this module runs the native binary
itself when it can find it (``node_modules/@foundry-rs/anvil-<platform>/bin/anvil``), and in any case starts the
node in its own process group and stops the whole group (wrapper and child) with SIGTERM, then SIGKILL. A node is
never shared by accident: every ``Devnet`` is a new chain on a port nobody listens on. Ports come from the OS, or
from the range in ``$PERP_DEVNET_PORTS`` (e.g. ``8620-8649``) when set.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .chain.abi import PACKAGE_ROOT

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
GAS_LIMIT = 30_000_000


def _exit_cleanly_on_sigterm() -> None:
    """A SIGTERM (``kill``, a CI timeout) ends the process through SystemExit, so ``finally`` blocks and ``atexit``
    run and the node this process started is stopped with it (Python's default for SIGTERM is to die at once, which
    leaves the node listening). Only from the main thread, and only when nobody installed a handler already."""
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class DevnetError(RuntimeError):
    """Anvil could not be found or started; the message says what to do."""


def anvil_binary() -> str:
    """The native Anvil binary (preferred) or the npm wrapper, or ``anvil`` on PATH."""
    native = sorted((PACKAGE_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    for candidate in native:
        if os.access(candidate, os.X_OK):
            return str(candidate)
    for candidate in (PACKAGE_ROOT / "node_modules" / ".bin" / "anvil",):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("anvil")
    if found:
        return found
    raise DevnetError("anvil not found: run `make setup` (installs it from npm into node_modules/) or put Foundry's "
                      "anvil on PATH")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    with socket.socket() as s:  # nobody answers there either
        s.settimeout(0.2)
        return s.connect_ex((host, port)) != 0


def free_port(port_range: str | None = None) -> int:
    """A port nobody listens on: from ``port_range`` ("8620-8649", default ``$PERP_DEVNET_PORTS``) or the OS."""
    port_range = port_range or os.environ.get("PERP_DEVNET_PORTS")
    if port_range:
        try:
            lo, hi = (int(x) for x in port_range.split("-"))
        except ValueError:
            raise DevnetError(f"PERP_DEVNET_PORTS must look like 8620-8649, got {port_range!r}") from None
        for port in range(lo, hi + 1):
            if port_is_free(port):
                return port
        raise DevnetError(f"no free port in {port_range}: stop the nodes listening there")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Devnet:
    """One Anvil process group. ``base_fee``: None keeps Anvil's EIP-1559 base fee (a stock node), 0 gives a
    zero-fee chain. ``state``: a file to load the chain from and dump it to on stop (``--state``)."""

    def __init__(self, port: int | None = None, gas_limit: int = GAS_LIMIT, base_fee: int | None = None,
                 accounts: int = 10, state: str | Path | None = None, extra_args: tuple = ()):
        self.port = port
        self.gas_limit = gas_limit
        self.base_fee = base_fee
        self.accounts = accounts
        self.state = state
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "Devnet":
        if self.port is None:
            self.port = free_port()
        elif not port_is_free(self.port):
            raise DevnetError(f"port {self.port} is taken: a node (maybe a stale Anvil) already listens there; stop it, "
                              f"or attach to it explicitly with --rpc {self.url}")
        args = [anvil_binary(), "--port", str(self.port), "--gas-limit", str(self.gas_limit), "--accounts",
                str(self.accounts), "--mnemonic", ANVIL_MNEMONIC]
        if self.base_fee is not None:
            args += ["--base-fee", str(self.base_fee)]
        if self.state:
            args += ["--state", str(self.state)]
        args += list(self.extra_args)
        log = open(os.devnull, "w")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        atexit.register(self.stop)
        _exit_cleanly_on_sigterm()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DevnetError(f"anvil exited at start with status {self.proc.returncode} ({' '.join(args)})")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise DevnetError(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def _answers(self) -> bool:
        import json
        import urllib.request

        req = urllib.request.Request(self.url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                                                "params": []}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=0.5) as r:
                return b"result" in r.read()
        except OSError:
            return False

    def stop(self) -> None:
        """Stops the node's whole process group (wrapper and native child): SIGTERM, then SIGKILL after 5 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            pgid = os.getpgid(proc.pid)
        except ProcessLookupError:
            pgid = None
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None and pgid is None:
                break
            try:
                if pgid is not None:
                    os.killpg(pgid, sig)
                else:
                    proc.send_signal(sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                if pgid is not None:
                    os.killpg(pgid, 0)  # any member left? (raises when the group is gone)
                    continue
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self._log.close()

    def __enter__(self) -> "Devnet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
