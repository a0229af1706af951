"""The HTML report of a run, built from a run recorded on the reference model (no chain): one self-contained file
(plotly.js embedded, no script or stylesheet fetched from the network), every panel's title, the windfall note
exactly when the run has windfalls, and a render in headless Chromium without console errors (screenshot in the
test's tmp dir)."""
import copy
import re
from pathlib import Path

import pytest

from perp import report as rpt
from perp.lab.compare import compare, crash_on_model
from perp.report_html import TITLES, WINDFALL_NOTE, policy_rows, render, write_html
from perp.scenario import load

from headless import find_or_install, render_in_chromium

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recorded():
    scn = load(ROOT / "scenarios" / "flash_crash.yaml")
    crash = crash_on_model(scn, traders=120)
    report = rpt.build(crash.record())
    report["backend"] = "reference model"
    return scn, crash, report


def test_self_contained_with_every_panel(recorded, tmp_path):
    scn, crash, report = recorded
    rows = policy_rows(compare(crash.cases), scn.decimals)
    path = write_html(report, tmp_path / "report.html", scn.decimals, rows, "policies on the model")
    text = path.read_text()
    assert not re.search(r"<script[^>]+src\s*=\s*['\"]?(https?:)?//", text, re.I)
    assert not re.search(r"<link[^>]+href\s*=\s*['\"]?(https?:)?//", text, re.I)
    assert "plotly.js v" in text or "Plotly" in text  # the library itself is in the file
    for title in TITLES.values():
        assert title in text, title
    for name in ("queue", "pro_rata", "water_fill"):
        assert f"<td>{name}</td>" in text
    for label in ("price step", "collateral tokens", "contracts (base units)", "fills (count)", "positions (count)"):
        assert label in text, label
    windfalls = report["summary"]["type1_windfalls"] + report["summary"]["type2_windfalls"]
    assert ("id='windfall-note'" in text) == (windfalls > 0)


def test_windfall_note_appears_exactly_with_a_windfall(recorded):
    _, _, report = recorded
    with_w = copy.deepcopy(report)
    with_w["summary"]["type1_windfalls"] = 5
    none = copy.deepcopy(report)
    none["summary"]["type1_windfalls"] = none["summary"]["type2_windfalls"] = 0
    for h in none["summary"]["accounts_hit"]:
        h["type1_windfall"] = h["type2_windfall"] = 0
    assert WINDFALL_NOTE in render(with_w, 6).replace("&#x27;", "'")
    assert "windfall-note" not in render(none, 6)


def test_renders_in_headless_chromium_without_console_errors(recorded, tmp_path):
    scn, crash, report = recorded
    binary = find_or_install()
    rows = policy_rows(compare(crash.cases), scn.decimals)
    path = write_html(report, tmp_path / "report.html", scn.decimals, rows, "policies on the model")
    page = render_in_chromium(binary, path, tmp_path, "report")
    assert page.screenshot_bytes > 10_000, page.stderr
    assert page.console_errors == []
    assert page.page_errors == ""  # the probe reported, and caught nothing
    assert page.svg_layers >= 6  # plotly drew its SVG layers for the six figures


def test_the_simulation_command_s_writer_adds_the_policy_table(recorded, tmp_path):
    """``perp.runner.write_html_report`` (what `perp simulate` calls after the PNGs) computes the policy table on the
    model's run of the same scenario and says so."""
    from perp.runner import write_html_report
    from perp.scenario import scaled

    scn, _, report = recorded
    path = write_html_report(report, scaled(scn, 120), tmp_path / "report.html")
    text = path.read_text()
    assert "<td>dydx_sweep</td>" in text and "run on the reference model" in text
