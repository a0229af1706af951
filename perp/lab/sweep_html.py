"""The HTML summary of a sweep (``perp.lab.sweep``): one self-contained file, plotly embedded."""
from __future__ import annotations

import html
from pathlib import Path

from .sweep import AXES

TITLES = {
    "p_adl": "Probability that ADL fires, by parameter value",
    "bad_debt": "Bad debt per run",
    "drawdown": "Largest fund drawdown per run",
    "policies": "Policy figures per run where ADL fired",
}


def _order(v: str):
    """Numbers in numeric order, then names."""
    try:
        return (0, float(v), "")
    except ValueError:
        return (1, 0.0, v)


def _figures(rows: list[dict]) -> dict:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    runs = {}
    for r in rows:
        runs.setdefault(r["point_id"], r)
    runs = list(runs.values())
    one = 10 ** int(runs[0]["decimals"]) if runs else 1
    figs = {}
    axes = [a for a in AXES if len({r[a] for r in runs}) > 1] + ["scenario"]
    fig = make_subplots(rows=1, cols=len(axes), subplot_titles=axes, shared_yaxes=True)
    for i, a in enumerate(axes, 1):
        vals = sorted({r[a] for r in runs}, key=_order)
        p = [sum(int(r["adl_fired"]) for r in runs if r[a] == v) / max(1, sum(1 for r in runs if r[a] == v))
             for v in vals]
        fig.add_trace(go.Bar(x=[str(v) for v in vals], y=p, name=a, showlegend=False), row=1, col=i)
        fig.update_xaxes(title_text=a, type="category", row=1, col=i)
    fig.update_yaxes(title_text="share of runs with an ADL event", range=[0, 1], row=1, col=1)
    fig.update_layout(title=TITLES["p_adl"], height=360)
    figs["p_adl"] = fig

    fig = go.Figure()
    for scn in sorted({r["scenario"] for r in runs}):
        fig.add_trace(go.Box(y=[int(r["bad_debt"]) / one for r in runs if r["scenario"] == scn], name=scn,
                             boxpoints="all"))
    fig.update_layout(title=TITLES["bad_debt"], height=360, xaxis_title="scenario",
                      yaxis_title="bad debt at liquidation (collateral tokens)")
    figs["bad_debt"] = fig

    fig = go.Figure()
    for scn in sorted({r["scenario"] for r in runs}):
        fig.add_trace(go.Box(y=[float(r["fund_drawdown_max"]) * 100 for r in runs if r["scenario"] == scn],
                             name=scn, boxpoints="all"))
    fig.update_layout(title=TITLES["drawdown"], height=360, xaxis_title="scenario",
                      yaxis_title="(peak - equity) / peak of the fund (%)")
    figs["drawdown"] = fig

    cols = (("max_equity_share", "largest haircut / equity"), ("gini_event", "Gini per event (mean)"),
            ("top1_share", "top-1 share of haircuts"), ("leverage_after_max", "max leverage after (x)"))
    fig = make_subplots(rows=1, cols=len(cols), subplot_titles=[c[1] for c in cols])
    pols = list(dict.fromkeys(r["policy"] for r in rows))
    for i, (col, label) in enumerate(cols, 1):
        for j, p in enumerate(pols):
            ys = [float(r[col]) for r in rows if r["policy"] == p and int(r["adl_fired"]) and r[col] != ""]
            fig.add_trace(go.Box(y=ys, name=p, legendgroup=p, showlegend=i == 1,
                                 marker_color=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"][j % 5]),
                          row=1, col=i)
        fig.update_xaxes(title_text="policy", row=1, col=i)
    fig.update_yaxes(title_text="fraction (share) or x (leverage)", row=1, col=1)
    fig.update_layout(title=TITLES["policies"], height=420)
    figs["policies"] = fig
    return figs


def write_summary_html(rows: list[dict], summary: dict, path: Path) -> Path:
    path = Path(path)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>Sweep: {html.escape(summary.get('name', ''))}</title>",
             "<style>body{font-family:sans-serif;margin:24px;max-width:1300px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}</style>"
             "</head><body>", f"<h1>Sweep: {html.escape(summary.get('name', ''))}</h1>"]
    o = summary["overall"]
    parts.append("<h2>Runs</h2><table><tr><th>scenario</th><th>points</th><th>P(ADL fires)</th><th>bad debt p50 / "
                 "p90 / max (tokens)</th><th>fund drawdown p50 / p90 / max</th><th>reconciled</th></tr>")
    for name, b in [("all", o)] + list(summary["by_scenario"].items()):
        if not b.get("points"):
            continue
        bd, dd = b["bad_debt"], b["fund_drawdown"]
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{b['points']}</td><td>{b['p_adl']:.2f}</td>"
                     f"<td>{bd['q50']:,.2f} / {bd['q90']:,.2f} / {bd['q100']:,.2f}</td>"
                     f"<td>{dd['q50'] * 100:.1f}% / {dd['q90'] * 100:.1f}% / {dd['q100'] * 100:.1f}%</td>"
                     f"<td>{'yes' if b['reconciled'] else 'NO'}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Policies side by side</h2><p>Means over the runs where ADL fired; each policy on the same "
                 "recorded books, counterfactually per event (the path is the protocol's).</p>")
    if not summary["policies"]:
        parts.append("<p id='no-adl'>ADL fired in none of the runs: there are no policy figures to compare.</p>")
    parts.append("<table><tr>"
                 "<th>policy</th><th>runs</th><th>accounts hit</th><th>haircuts (tokens)</th><th>overshoot (units)</th>"
                 "<th>Gini run</th><th>Gini event</th><th>top-1</th><th>top-10</th><th>max h/E</th>"
                 "<th>max lev. after</th></tr>")

    def f(x, pct=False):
        return "-" if x is None else (f"{x * 100:.1f}%" if pct else f"{x:,.3f}")

    for name, p in summary["policies"].items():
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{p['points']}</td><td>{f(p['accounts_hit'])}</td>"
                     f"<td>{f(p['haircuts'])}</td><td>{f(p['overshoot_units'])}</td><td>{f(p['gini'])}</td>"
                     f"<td>{f(p['gini_event'])}</td><td>{f(p['top1_share'], True)}</td>"
                     f"<td>{f(p['top10_share'], True)}</td><td>{f(p['max_equity_share'], True)}</td>"
                     f"<td>{f(p['leverage_after_max'])}</td></tr>")
    parts.append("</table>")
    if summary.get("skipped"):
        parts.append(f"<p>{len(summary['skipped'])} points left out (parameters outside the contract's bounds), "
                     f"e.g. {html.escape(summary['skipped'][0]['reason'])}</p>")
    if rows:
        first = True
        for key, fig in _figures(rows).items():
            parts.append(f"<h2>{html.escape(TITLES[key])}</h2>")
            parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False,
                                     div_id=f"sweep-{key}", config={"displaylogo": False}))
            first = False
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
