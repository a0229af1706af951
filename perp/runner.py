"""One crash-simulation run from a scenario file to its report: on the chain, deploy (``perp.sim.deploy_for``) and
run (``perp.sim.Simulation``); on the reference model, run ``perp.sim.ModelSimulation`` (no chain); either with a
progress bar, then write the JSON report, the plots and the HTML report, and print the summary. Used by
``perp simulate [--backend model]`` and by ``scripts/simulate.py`` (Brownie)."""
from __future__ import annotations

import time
from pathlib import Path

from . import report as rpt
from .chain.abi import PACKAGE_ROOT
from .scenario import load, scaled
from .sim import ModelSimulation, Simulation, SimulationHalted, deploy_for

BACKENDS = ("chain", "model")


def _shown(path: Path) -> str:
    return str(path.relative_to(PACKAGE_ROOT)) if path.is_relative_to(PACKAGE_ROOT) else str(path)


def run_scenario(w3, operator, keeper: str, scenario_path: str, out_dir: str | None = None, plots: bool = True,
                 quiet: bool = False, traders: int | None = None, html: bool = True):
    """Runs one scenario on the chain behind ``w3`` (a devnet: mock oracles). ``operator``: a
    ``perp.chain.Sender`` of an unlocked account; ``keeper``: another unlocked account. Returns (report, sim)."""
    scn = _load(scenario_path, traders)
    return _run(scn, scenario_path, lambda progress: Simulation(w3, deploy_for(operator, scn, keeper), scn,
                                                                progress=progress),
                out_dir, plots, quiet, html)


def run_scenario_on_model(scenario_path: str, out_dir: str | None = None, plots: bool = True, quiet: bool = False,
                          traders: int | None = None, html: bool = True):
    """Runs one scenario on the reference model (``perp.sim.ModelSimulation``, no chain), recording the ADL books
    so that the HTML report's policy table comes from this run. Returns (report, sim)."""
    from .lab.compare import BookModel

    scn = _load(scenario_path, traders)
    return _run(scn, scenario_path, lambda progress: ModelSimulation(scn, progress=progress,
                                                                     model=BookModel(scn.decimals)),
                out_dir, plots, quiet, html)


def _load(scenario_path: str, traders: int | None):
    scn = load(scenario_path)
    return scaled(scn, traders=traders) if traders is not None else scn


def _run(scn, scenario_path: str, make_sim, out_dir, plots: bool, quiet: bool, html: bool):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(quiet=quiet)
    console.print(f"[bold]{scn.name}[/]: {scn.description.strip()}")
    started = time.time()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TimeElapsedColumn(), console=console, disable=quiet) as progress:
        task = progress.add_task("building population", total=scn.steps + 1)

        def on_step(step, record):
            fills = record.type1_fills + record.type2_fills
            progress.update(task, completed=step + 1,
                            description=f"step {step:>4}  liq {record.liquidations:>3}  adl {fills:>3}")

        sim = make_sim(on_step)
        try:
            sim.run()
        except SimulationHalted as exc:
            progress.stop()
            console.print(f"[bold red]simulation halted[/]: {exc}")
            raise
    record = sim.record()
    report = rpt.build(record)
    out = Path(out_dir) if out_dir else PACKAGE_ROOT / "reports" / "sim" / Path(scenario_path).stem
    json_path = rpt.write_json(report, out / "report.json")
    files = rpt.plot(report, out, scn.decimals) if plots else []
    if html:
        cases = None
        if sim.backend == "model":
            from .lab.compare import crash_of

            cases = crash_of(sim).cases
        files.append(write_html_report(report, scn, out / "report.html", cases))
    elapsed = time.time() - started
    rpt.print_summary(report, scn.decimals, console)
    console.print(f"report: {_shown(json_path)}")
    for f in files:
        console.print(f"{'html' if f.suffix == '.html' else 'plot'}:   {_shown(f)}")
    console.print(f"{len(sim.traders)} traders x {scn.steps + 1} steps audited on the {sim.backend} in {elapsed:.1f} s "
                  f"({len(sim.traders) * (scn.steps + 1) / elapsed:,.0f} account-steps/s)")
    return report, sim


POLICY_TABLE_MAX_TRADERS = 2_000  # above this the model run behind the policy table takes too long for a report


def write_html_report(report: dict, scn, path: Path, cases: list | None = None) -> Path:
    """The run's HTML report (``perp.report_html``), with the ADL policy table of ``perp.lab.compare``: on the
    ``cases`` (ADL books) recorded by this run when it ran on the reference model, else computed on the reference
    model's run of the same scenario when that is cheap (up to ``POLICY_TABLE_MAX_TRADERS`` traders)."""
    from .lab.compare import compare, crash_on_model
    from .report_html import policy_rows, write_html

    rows, note = None, ""
    if cases is not None or scn.population.count <= POLICY_TABLE_MAX_TRADERS:
        which = "ADL events of this run (reference model)" if cases is not None else \
            "ADL events of the same scenario run on the reference model (the same engine as this chain run)"
        comp = compare(cases if cases is not None else crash_on_model(scn).cases)
        rows = policy_rows(comp, scn.decimals)
        note = (f"Every policy of perp.lab on the {comp.cases} {which}, each counterfactually per event: the same "
                f"book, size and price as the protocol had. Money in collateral tokens; overshoot in collateral "
                f"units. `perp lab compare` prints the same table.")
    else:
        note = (f"not computed: {scn.population.count} traders (above {POLICY_TABLE_MAX_TRADERS}); run "
                f"`perp lab compare` on the scenario")
    return write_html(report, path, scn.decimals, rows, note)
