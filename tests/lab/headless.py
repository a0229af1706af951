"""Headless Chromium for the report tests, found or installed as docs/TOOLCHAIN.md says (Debian's `chromium`:
`apt-get install -y chromium`, root on every machine of the project; tools/setup.sh installs it too)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

NAMES = ("chromium", "chromium-browser")


def find_or_install() -> str:
    """The path of a Chromium binary; installs Debian's package when missing and root can; skips the test (with
    the reason) only when neither works."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, capture_output=True, timeout=900)
        for name in NAMES:
            path = shutil.which(name)
            if path:
                return path
        pytest.skip("chromium is not installed and `apt-get install -y chromium` did not install it")
    pytest.skip("chromium is not installed, and this user cannot install it (not root, or no apt-get): "
                "run `apt-get install -y chromium` (tools/setup.sh does it as root)")


def run(binary: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=timeout)
