#!/usr/bin/env python3
"""Proof that the Foundry suite bites: plants known faults in a copy of the contracts, one at a time, runs the
suite's CI profile (math fuzz tests and invariant campaigns, with the coverage check) against each, and prints a
table: fault, the check that caught it, and after how many calls (or fuzz runs).

    python tools/plant_faults.py                  # every fault; writes the table to docs/FAULTS.md
    python tools/plant_faults.py --only type2-all-or-nothing --keep

Each fault is one exact text replacement in one file; a replacement that no longer matches exactly once stops the
script (so the catalogue follows the code). The working tree is never touched: each run happens in a temporary copy
(contracts/, interfaces/, tests/forge/, foundry.toml; node_modules and the compiler bridge linked).
Exit status: 0 when every fault was caught, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from forge_suite import coverage  # noqa: E402  (the same reading of the coverage files)


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    path: str
    old: str
    new: str


FAULTS = [
    Fault("ranking-reversed", "the ADL ranking compares scores the wrong way",
          "contracts/libraries/AdlRanking.sol",
          "        if (ah != bh) return ah > bh;\n        if (al != bl) return al > bl;",
          "        if (ah != bh) return ah < bh;\n        if (al != bl) return al < bl;"),
    Fault("eligibility-ignored", "an ADL fill ignores eligibility (positions at a loss become candidates)",
          "contracts/modules/AdlModule.sol",
          "        if (uD <= 0) return;", "        if (uD == 0) return;"),
    Fault("queue-bound-too-tight", "the queue's tier bound uses twice the tier's edge (an unsound bound)",
          "contracts/libraries/AdlRanking.sol",
          "return _bound(isLong, key, AdlQueue.edgeNum(tier), AdlQueue.Q_BITS, fp, refShift);",
          "return _bound(isLong, key, 2 * AdlQueue.edgeNum(tier), AdlQueue.Q_BITS, fp, refShift);"),
    Fault("trade-skips-requeue", "a trade changes a position without re-sorting it in the ADL queue",
          "contracts/modules/TradingModule.sol",
          "        _requeue(marketId, order.account, hint);\n", ""),
    Fault("type2-all-or-nothing", "Type 2 skips its all-or-nothing check",
          "contracts/modules/AdlModule.sol",
          "        if (o.filled != o.required) {\n            if (o.outOfWork) revert AdlWorkLimit(marketId, o.required, o.filled);\n"
          "            revert InsufficientAdlCapacity(marketId, o.required, o.filled);\n        }\n", ""),
    Fault("type2-price-uncapped", "Type 2 trades at mark without the fund's bankruptcy-price cap",
          "contracts/modules/AdlModule.sol",
          "        if (mkt.fundCash < 0) return mark;\n        int256 size = mkt.fundSize;",
          "        if (mark > 0) return mark;\n        int256 size = mkt.fundSize;"),
    Fault("liquidation-margin-not-moved", "a liquidation pays the keeper without taking it from the position's margin",
          "contracts/modules/LiquidationModule.sol",
          "            pos.margin -= uint128(reward);\n", ""),
    Fault("type1-dust-lost", "Type 1 forgets the rounding dust that belongs to the fund",
          "contracts/modules/AdlModule.sol",
          "        mkt.fundCash += size < 0 ? int256(nb) - int256(pieces) : int256(pieces) - int256(nb);\n", ""),
    Fault("refusal-ignores-risk-limit", "the fund's refusal rule ignores its risk limit",
          "contracts/modules/InsuranceFundModule.sol",
          "            return RefusalReason.RiskLimit;", "            return RefusalReason.None;"),
    Fault("counterparty-margin-unchecked", "ADL cuts a counterparty without regard to its margin",
          "contracts/modules/AdlModule.sol",
          "        if (margin <= 2) return 0;\n        return PerpMath.min(absSize, Math.mulDiv(margin - 2, priceDen * absSize, uint256(lossNum)));",
          "        return absSize;"),
    Fault("rounding-flipped", "notionalUp rounds down (a rounding helper rounds the other way)",
          "contracts/libraries/PerpMath.sol",
          "        return Math.ceilDiv(absSize * price, WAD * scale);", "        return absSize * price / (WAD * scale);"),
    Fault("fees-lost", "trading fees are taken from traders but not paid to the fund",
          "contracts/modules/TradingModule.sol",
          "        if (makerFee + takerFee != 0) mkt.fundCash += int256(makerFee + takerFee);\n", ""),
    Fault("loss-left-in-cash", "a Type 1 loss below the fund's cash is not spread (the waterfall's last layer skipped)",
          "contracts/modules/AdlModule.sol",
          "        _socializeLoss(marketId, mkt, account, size < 0, cashBefore);\n", ""),
    Fault("latch-never-clears", "the drawdown latch never clears at the stop line",
          "contracts/base/PerpBase.sol",
          "        else if (distressed && drawdown <= mkt.params.drawdownStop) distressed = false;\n", ""),
]

# "[FAIL: <reason>]" (a fuzz failure adds "; counterexample: ..."), then, after the failing sequence when there is one,
# the test's line: "<name>(<args>) (runs: R, calls: C, reverts: V)" or "(runs: R, μ: ..., ~: ...)".
FAIL = re.compile(
    r"\[FAIL: (?P<reason>[^\]\n]*?)(?:; counterexample[^\]]*)?\].*?(?P<test>(?:invariant|test)\w*)\([^)]*\)\s+\((?P<stats>[^)]*)\)",
    re.S,
)


def _copy_tree(dest: Path) -> None:
    for name in ("contracts", "interfaces"):
        shutil.copytree(ROOT / name, dest / name)
    (dest / "tests").mkdir()
    shutil.copytree(ROOT / "tests" / "forge", dest / "tests" / "forge")
    shutil.copy(ROOT / "foundry.toml", dest / "foundry.toml")
    for link in ("node_modules", ".solcx"):
        os.symlink(ROOT / link, dest / link)
    # forge's cache of an unplanted build (make forge leaves one): then only the planted file and the files that
    # import it are compiled again, not the whole tree
    for part in ("cache", "out"):
        if (ROOT / "build" / "forge" / part).is_dir():
            shutil.copytree(ROOT / "build" / "forge" / part, dest / "build" / "forge" / part)


def plant(dest: Path, fault: Fault) -> None:
    path = dest / fault.path
    text = path.read_text()
    n = text.count(fault.old)
    if n != 1:
        raise SystemExit(f"fault {fault.name}: the text to replace occurs {n} times in {fault.path} (must be once)")
    path.write_text(text.replace(fault.old, fault.new))


def run(fault: Fault, keep: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="fault-"))
    try:
        _copy_tree(tmp)
        plant(tmp, fault)
        env = dict(os.environ, FOUNDRY_PROFILE=os.environ.get("FOUNDRY_PROFILE", "ci"))
        env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
        (tmp / "build" / "forge" / "coverage").mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        proc = subprocess.run(
            ["forge", "test", "--fail-fast", "--match-path", "tests/forge/{unit,invariant}/*"],
            cwd=tmp, env=env, capture_output=True, text=True,
        )
        out = proc.stdout + proc.stderr
        took = time.monotonic() - started
        m = FAIL.search(out)
        if m:
            stats = dict(kv.split(": ", 1) for kv in m.group("stats").split(", ") if ": " in kv)
            return {"caught": True, "by": f"{m.group('test')}: {m.group('reason')}",
                    "after": stats.get("calls", stats.get("runs", "?")) + (" calls" if "calls" in stats else " runs"),
                    "seconds": took}
        if proc.returncode != 0 or "Compilation failed" in out:  # no test failed, yet forge failed: the planted copy does not build
            raise SystemExit(f"fault {fault.name}: forge failed without a failing test:\n{out[-3000:]}")
        # everything passed: the coverage check may still catch it (a state never reached)
        table = coverage(tmp / "build" / "forge" / "coverage")
        missing = [f"{s}: {st}" for s, t in table.items() for st, c in t.items() if c == 0]
        if missing:
            return {"caught": True, "by": f"coverage check: never reached {', '.join(sorted(set(m.split(': ')[1] for m in missing)))}",
                    "after": "a whole campaign", "seconds": took}
        return {"caught": False, "by": "-", "after": "-", "seconds": took}
    finally:
        if keep:
            print(f"  (kept {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="run only this fault (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite docs/FAULTS.md")
    args = ap.parse_args()
    faults = [f for f in FAULTS if not args.only or f.name in args.only]
    rows = []
    for f in faults:
        print(f"==> {f.name}: {f.what}", flush=True)
        r = run(f, args.keep)
        print(f"    {'caught by ' + r['by'] if r['caught'] else 'NOT CAUGHT'} ({r['after']}, {r['seconds']:.0f} s)", flush=True)
        rows.append((f, r))
    lines = [
        "| fault | planted in | caught by | after |",
        "| --- | --- | --- | --- |",
    ]
    for f, r in rows:
        by = r["by"].replace("|", "\\|")
        lines.append(f"| `{f.name}`: {f.what} | `{f.path}` | {by if r['caught'] else '**not caught**'} | {r['after']} |")
    table = "\n".join(lines)
    print("\n" + table)
    if not args.no_write and not args.only:
        doc = ROOT / "docs" / "FAULTS.md"
        text = doc.read_text() if doc.exists() else ""
        start, end = "<!-- fault table -->", "<!-- /fault table -->"
        if start in text and end in text:
            text = text[: text.index(start) + len(start)] + "\n" + table + "\n" + text[text.index(end):]
            doc.write_text(text)
            print(f"table written to {doc.relative_to(ROOT)}")
    return 0 if all(r["caught"] for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
