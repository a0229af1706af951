"""Headless Chromium for the report tests, found or installed as docs/TOOLCHAIN.md says (Debian's `chromium`:
`apt-get install -y chromium`, root on every machine of the project; tools/setup.sh installs it too), and the one
check every HTML report gets (`render_in_chromium`): a screenshot, the console's error lines, and what the page
itself threw, caught by a probe script in a copy of the page and read back from the DOM."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser")

# Added to the top of a copy of the page: collects errors and console.error calls, then (half a second after load)
# writes them, and how many plotly graphs and SVG layers were drawn, into the DOM for --dump-dom.
CAPTURE = """<script>window.__errors=[];window.addEventListener('error',function(e){window.__errors.push('error: '+
e.message)});var __ce=console.error;console.error=function(){window.__errors.push('console.error: '+
Array.prototype.join.call(arguments,' '));__ce.apply(console,arguments)};window.addEventListener('load',function(){
setTimeout(function(){var p=document.createElement('pre');p.id='captured-errors';p.textContent=
window.__errors.join('\\n');document.body.appendChild(p);var n=document.createElement('pre');n.id='plots-drawn';
n.textContent=String(document.querySelectorAll('.main-svg').length);document.body.appendChild(n);
var g=document.createElement('pre');g.id='graphs-drawn';g.textContent=String(
document.querySelectorAll('.js-plotly-plot').length);document.body.appendChild(g)},500)});</script>"""


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


@dataclass
class Rendered:
    screenshot: Path
    screenshot_bytes: int  # 0 when Chromium wrote none
    console_errors: list  # stderr CONSOLE lines that name an error
    page_errors: str | None  # what the probe caught ("" when nothing; None when the probe never reported)
    svg_layers: int  # plotly's .main-svg elements
    graphs: int  # plotly graphs drawn (.js-plotly-plot)
    stderr: str  # the screenshot run's stderr, for failure messages


def render_in_chromium(binary: str, page: Path, out_dir: Path, name: str, window: str = "1200,3000") -> Rendered:
    """Renders ``page`` in headless Chromium: a screenshot ``out_dir/<name>.png``, the console's error lines, and a
    copy of the page with the probe (``CAPTURE``) dumped with --dump-dom after its scripts ran."""
    shot = Path(out_dir) / f"{name}.png"
    res = run(binary, f"--screenshot={shot}", f"--window-size={window}", Path(page).as_uri())
    console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln and re.search(r"error|uncaught", ln, re.I)]
    probe = Path(out_dir) / f"{name}.probe.html"
    probe.write_text(Path(page).read_text(encoding="utf-8").replace("<head>", "<head>" + CAPTURE, 1),
                     encoding="utf-8")
    dom = run(binary, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout

    def read(tag):
        m = re.search(rf"<pre id=\"{tag}\">(.*?)</pre>", dom, re.S)
        return None if m is None else m.group(1)

    errors, layers, graphs = read("captured-errors"), read("plots-drawn"), read("graphs-drawn")
    return Rendered(shot, shot.stat().st_size if shot.exists() else 0, console,
                    None if errors is None else errors.strip(), int(layers or 0), int(graphs or 0), res.stderr[-2000:])
