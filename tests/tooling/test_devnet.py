"""A node started by the tooling (``perp.devnet.Devnet``) never outlives the process that started it: not on a
normal exit, not on an error, not on SIGTERM (``kill``, a CI timeout), which Python's default would turn into an
immediate death that leaves Anvil listening for the next run to attach to."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perp.devnet import port_is_free

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys, time
from perp.devnet import Devnet
node = Devnet().start()
print(node.port, node.proc.pid, flush=True)
if sys.argv[1] == "error":
    sys.stdin.readline()  # raise only once the test has seen the node listening (else the check races the error)
    raise RuntimeError("boom")
time.sleep(600)
"""


def _start(mode: str) -> tuple[subprocess.Popen, int, int]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port, anvil_pid = map(int, proc.stdout.readline().split())
    return proc, port, anvil_pid


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("mode", ["sigterm", "error"])
def test_the_node_stops_with_the_process_that_started_it(mode):
    proc, port, anvil_pid = _start(mode)
    assert not port_is_free(port), "the node should be listening while its process runs"
    if mode == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    status = proc.wait(timeout=30)
    assert status == (128 + signal.SIGTERM if mode == "sigterm" else 1), proc.stderr.read()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (port_is_free(port) and _gone(anvil_pid)):
        time.sleep(0.1)
    assert port_is_free(port), f"port {port} still taken after the process ended ({mode})"
    assert _gone(anvil_pid), f"anvil (pid {anvil_pid}) outlived the process that started it ({mode})"
