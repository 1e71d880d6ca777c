"""Re-check a finished target's surviving mutants against tests written after its run.

    python benchmarks/mutation/recheck.py TARGET TEST [TEST ...]

A mutant that survived a target's test selection can only be killed by a test
that was not in it, so running the survivors alone against the new (or changed)
tests gives the target's score with them exactly, in minutes instead of a full
re-run. Each survivor of ``--out``/TARGET is applied (``mutmut apply``) to a
fresh copy of the current work tree in ``--out``/TARGET-recheck, the tests run
on SQLite stopping at the first failure, and the file is restored. The result
goes to ``--out``/TARGET-recheck/recheck.txt and into the target's row of
``--out``/scores.md (the ``killed after`` column).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from run import ROOT, SURVIVOR, mutmut, table, workspace
from targets import TARGETS


def survivors(place: Path) -> list[str]:
    return [name for name, _ in SURVIVOR.findall(mutmut(place, "results").stdout)]


def killed(checkout: Path, mutant: str, tests: list[str], modules: list[str]) -> bool:
    """Whether ``tests`` fail with ``mutant`` applied; the work tree is restored after."""
    applied = mutmut(checkout, "apply", mutant)
    if applied.returncode:
        raise RuntimeError(f"mutmut apply {mutant} failed:\n{applied.stdout}")
    env = {**os.environ, "AQTA_TEST_BACKENDS": "sqlite", "CI": "true", "PYTHONPATH": str(checkout)}
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                             cwd=checkout, env=env, capture_output=True, text=True, timeout=900)
        return run.returncode != 0
    except subprocess.TimeoutExpired:
        return True
    finally:
        for module in modules:
            shutil.copy2(ROOT / module, checkout / module)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("tests", nargs="+", help="the tests added or changed since the target's run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "mutation" / "work")
    options = parser.parse_args()
    modules, _ = TARGETS[options.target]
    place = options.out / options.target
    left = survivors(place)
    checkout = workspace(options.out, f"{options.target}-recheck")
    shutil.copytree(place / "mutants", checkout / "mutants")
    shutil.copy2(place / "setup.cfg", checkout / "setup.cfg")
    lines = []
    for mutant in left:
        verdict = "killed" if killed(checkout, mutant, options.tests, modules) else "survived"
        lines.append(f"{verdict:8} {mutant}")
        print(lines[-1], flush=True)
    now_killed = sum(line.startswith("killed") for line in lines)
    (checkout / "recheck.txt").write_text(f"tests: {' '.join(options.tests)}\n" + "\n".join(lines) + "\n")
    scores = options.out / "scores.json"
    rows = json.loads(scores.read_text())
    for row in rows:
        if row["target"] == options.target:
            row["killed_after"] = now_killed
            row["score_after"] = round(100 * (row["killed"] + now_killed) / row["total"], 1)
            print(f"{options.target}: {row['killed']} + {now_killed} of {row['total']} killed: "
                  f"{row['score_after']} %")
    scores.write_text(json.dumps(rows, indent=2))
    (options.out / "scores.md").write_text(table(rows))


if __name__ == "__main__":
    main()
