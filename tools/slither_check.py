#!/usr/bin/env python3
"""Runs Slither on the project's own contracts and compares its high and medium findings with the triage in
docs/slither-triage.md. Exit 0 when every such finding is triaged, 1 otherwise, 2 when Slither cannot run.

    python tools/slither_check.py            # prints every finding and whether it is triaged
    python tools/slither_check.py --json out.json

Why not `slither . --compile-force-framework brownie`: crytic-compile's Brownie platform reads only
build/contracts/*.json, and Brownie writes the artifacts of interfaces/ to build/interfaces/ (and none at all for
a file that declares only types, such as interfaces/IPerpetualTypes.sol), so Slither stops with
"interfaces/IPerpetual.sol does not exist" in every version (crytic-compile issue #358, Brownie issue #941).
Instead the same compiler bridge Brownie uses (.solcx/solc-v<version>, solc-js) compiles a standard-JSON input
built from brownie-config.yaml (version, viaIR, optimizer, remappings), and Slither reads that
(`--compile-force-framework solc-json`).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRIAGE = ROOT / "docs" / "slither-triage.md"
EXCLUDED = r"(node_modules|contracts/mocks|tests)"  # not the project's own code
SLITHER_PIN = "slither-analyzer==0.11.6"


class SlitherUnavailable(RuntimeError):
    pass


def slither_executable() -> str | None:
    local = ROOT / ".venv" / "bin" / "slither"
    return shutil.which("slither") or (str(local) if local.exists() else None)


def _config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "brownie-config.yaml").read_text())


def standard_json_input() -> dict:
    """The compiler input Brownie would use for the project's own contracts (mocks left out)."""
    solc = _config()["compiler"]["solc"]
    # Absolute paths: Slither runs from a temporary folder (see run_slither).
    sources = sorted(str(p) for p in (ROOT / "contracts").rglob("*.sol") if "mocks" not in p.parts)
    remappings = []
    for r in solc.get("remappings", []):
        prefix, _, target = r.partition("=")
        remappings.append(f"{prefix}={ROOT / target}")
    settings = {
        # The detectors read the AST and Slither's own IR, not the bytecode: the optimizer (most of the compile
        # time with viaIR) is off; the pipeline stays as Brownie's (legacy codegen cannot fit every function).
        "viaIR": bool(solc.get("viaIR", False)),
        "optimizer": {"enabled": False},
        "remappings": remappings,
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode", "evm.deployedBytecode"], "": ["ast"]}},
    }
    evm = _config()["compiler"].get("evm_version")
    if evm:
        settings["evmVersion"] = evm
    return {"language": "Solidity", "sources": {s: {"urls": [s]} for s in sources}, "settings": settings}


def compiler() -> Path:
    version = _config()["compiler"]["solc"]["version"]
    folder = Path(os.environ.get("SOLCX_BINARY_PATH", ROOT / ".solcx"))
    path = folder / f"solc-v{version}"
    if not path.exists():
        raise SlitherUnavailable(f"compiler bridge {path} not found: run `make setup`")
    return path


def run_slither(json_out: Path | None = None) -> list[dict]:
    """Slither's high and medium detector results on the project's own contracts."""
    exe = slither_executable()
    if exe is None:
        raise SlitherUnavailable(f"slither is not installed: pip install {SLITHER_PIN}")
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"  # node for the bridge
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "input.json"
        inp.write_text(json.dumps(standard_json_input()))
        out = json_out or Path(tmp) / "slither.json"
        if out.exists():
            out.unlink()
        cmd = [
            exe, str(inp), "--compile-force-framework", "solc-json", "--solc", str(compiler()),
            "--filter-paths", EXCLUDED, "--exclude-informational", "--exclude-low", "--exclude-optimization",
            "--json", str(out),
        ]
        # From a folder outside the project: crytic-compile walks up from its working directory looking for a
        # framework config, finds foundry.toml (tests/forge/) and then fails on the solc-json target.
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
        if not out.exists():
            raise RuntimeError(f"slither failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        data = json.loads(out.read_text())
    if not data.get("success", False):
        raise RuntimeError(f"slither failed: {data.get('error')}")
    results = data.get("results", {}).get("detectors", [])
    for r in results:  # name files relative to the project (Slither ran from a temporary folder)
        for e in r.get("elements", []):
            sm = e.get("source_mapping") or {}
            if sm.get("filename_absolute"):
                sm["filename_relative"] = os.path.relpath(sm["filename_absolute"], ROOT)
    return [r for r in results if r["impact"] in ("High", "Medium") and _own(r)]


def _own(result: dict) -> bool:
    files = [e.get("source_mapping", {}).get("filename_relative", "") for e in result.get("elements", [])]
    return bool(files) and not re.search(EXCLUDED, files[0] or "")


def location(result: dict) -> str:
    """A line-independent location: the first element as Slither names it, e.g.
    ``PerpBase._pullCollateral(address,uint256)`` or ``PerpStorage._markets``."""
    first = result.get("first_markdown_element") or ""
    desc = result["description"].strip()
    name = desc.split(" (", 1)[0].strip()
    return name or first


def parse_triage(path: Path = TRIAGE) -> dict:
    """{(detector, location): reason} from the table rows ``| `detector` | `location` | impact | reason |``."""
    out = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|\s*([^|]*)\|\s*(.+?)\s*\|\s*$", line)
        if m:
            out[(m.group(1), m.group(2))] = m.group(4)
    return out


def untriaged(results: list[dict], triage: dict) -> list[tuple]:
    out = []
    for r in results:
        key = (r["check"], location(r))
        reason = triage.get(key, "")
        if len(reason.strip()) < 20:
            out.append((r["impact"], r["check"], key[1], r["description"].strip().splitlines()[0]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also keep Slither's JSON output here")
    args = ap.parse_args(argv)
    try:
        results = run_slither(args.json)
    except (SlitherUnavailable, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    triage = parse_triage()
    missing = untriaged(results, triage)
    for r in results:
        key = (r["check"], location(r))
        mark = "triaged " if key in triage else "UNTRIAGED"
        print(f"{mark} {r['impact']:6} {r['check']:24} {key[1]}")
    print(f"{len(results)} high/medium findings, {len(missing)} not triaged in {TRIAGE.relative_to(ROOT)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
