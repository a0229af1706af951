"""The HTML summary of a sweep (``perp.lab.sweep_html.write_summary_html``) rendered in headless Chromium, as the run
report is (``test_report_html``): a screenshot per report, no console error, nothing thrown by the page, and every
plotly figure drawn. Two reports: a sweep where ADL fires, with an axis varied and a point left out for its bounds,
and a calm sweep where nothing fires (its policy table says so; its policy panel has no runs to draw). The points
run in-process (the rows are those Ray would return, ``test_sweep``) and go through the table's CSV as ``perp sweep``
writes and reads it."""
import re
from pathlib import Path

import pytest

from perp.lab.sweep import append_rows, expand, parse, read_table, run_point, summarize
from perp.lab.sweep_html import TITLES, write_summary_html

from headless import find_or_install, render_in_chromium

SCN = Path(__file__).resolve().parents[2] / "scenarios"
FIGURES = len(TITLES)  # one plotly graph per title


def summary_page(raw, tmp_path, name):
    sw = parse(raw, SCN, f"{name}.yaml")
    points, skipped = expand(sw)
    table = tmp_path / f"{name}.csv"
    for p in points:
        append_rows(table, run_point(p, sw.policies))
    rows = read_table(table)
    summary = summarize(rows, sw, skipped)
    return write_summary_html(rows, summary, tmp_path / f"{name}.html"), rows, summary, skipped


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep_html")
    fired = summary_page({"name": "fires", "scenarios": ["flash_crash.yaml"], "traders": 60, "seeds": [5],
                          "grid": {"fund_seed_scale": [0.5, 20], "mmr": [0.02, 0.035]},
                          "policies": ["queue", "pro_rata", "water_fill"]}, tmp, "fires")
    calm = summary_page({"name": "calm", "scenarios": ["calm.yaml"], "traders": 30, "seeds": [1],
                         "policies": ["queue", "water_fill"]}, tmp, "calm")
    return tmp, {"fires": fired, "calm": calm}


def test_the_sweeps_are_what_the_pages_are_meant_to_show(pages):
    _, p = pages
    _, rows, summary, skipped = p["fires"]
    assert summary["overall"]["points"] == 2 and summary["overall"]["p_adl"] > 0
    assert len(skipped) == 2  # mmr 0.035 is at or above BTC-PERP's mcr: left out, and said so on the page
    _, rows, summary, skipped = p["calm"]
    assert summary["overall"]["points"] == 1 and summary["overall"]["p_adl"] == 0 and not skipped
    assert all(r["adl_fired"] == "0" for r in rows)


@pytest.mark.parametrize("name", ["fires", "calm"])
def test_the_sweep_page_is_self_contained(pages, name):
    _, p = pages
    text = p[name][0].read_text()
    assert not re.search(r"<script[^>]+src\s*=\s*['\"]?(https?:)?//", text, re.I)
    assert not re.search(r"<link[^>]+href\s*=\s*['\"]?(https?:)?//", text, re.I)
    assert text.count("plotly.js v") == 1  # the library once, with the first figure
    for title in TITLES.values():
        assert title in text, title
    fired = name == "fires"
    for policy in ("queue", "pro_rata", "water_fill"):  # the policies of the sweep where ADL fired
        assert (f"<td>{policy}</td>" in text) == fired
    assert ("id='no-adl'" in text) == (not fired)  # said, not left as an empty table
    assert ("points left out" in text) == fired


@pytest.mark.parametrize("name", ["fires", "calm"])
def test_the_sweep_page_renders_in_headless_chromium_without_errors(pages, name):
    tmp, p = pages
    page = render_in_chromium(find_or_install(), p[name][0], tmp, name, window="1300,2200")
    assert page.screenshot_bytes > 10_000, page.stderr
    assert page.console_errors == []
    assert page.page_errors == ""  # the probe reported, and caught nothing
    assert page.graphs == FIGURES  # every figure drawn by plotly
    assert page.svg_layers >= FIGURES
