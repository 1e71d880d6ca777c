"""Mutation testing of the guarantee modules with mutmut: one target at a time, its own tests only.

    python benchmarks/mutation/run.py                   # every target, in priority order
    python benchmarks/mutation/run.py quotas pricing    # some of them
    python benchmarks/mutation/run.py --list

Each target is copied (the tracked files as they are in the work tree) into
``--out``/<target>, given a ``setup.cfg`` that tells mutmut which modules to
mutate and which tests guard them, and run there on SQLite with Redis on
127.0.0.1:6379. The score table goes to ``--out``/scores.md and the surviving
mutants, with their diffs, to ``--out``/<target>/survivors.txt. Not part of CI:
it takes tens of minutes. Admission's Lua script is a string that mutmut leaves
alone; ``lua.py`` mutates it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
ALSO_COPY = ["providers", "workers", "migrations", "wsgi.py", "tox.ini", "setup.py"]
# A line of ``mutmut results`` for a mutant no test caught.
SURVIVOR = re.compile(r"^\s*(\S+): (survived|no tests|timeout|suspicious)$", re.M)


def workspace(out: Path, name: str) -> Path:
    """A fresh copy of the project's tracked files for one target."""
    place = out / name
    shutil.rmtree(place, ignore_errors=True)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for relative in filter(None, tracked.decode().split("\0")):
        source = ROOT / relative
        if source.is_file():
            (place / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, place / relative)
    return place


def configure(place: Path, modules: list[str], tests: list[str]) -> None:
    def lines(values: list[str]) -> str:
        return "".join(f"\n    {value}" for value in values)

    # One process: mutmut learns which tests reach a mutant from the test process itself,
    # so tox.ini's ``-n 2`` (pytest-xdist workers) would leave every mutant with "no tests".
    (place / "setup.cfg").write_text(
        "[mutmut]\n"
        f"source_paths ={lines(['app', 'storage'])}\n"
        f"only_mutate ={lines(modules)}\n"
        f"also_copy ={lines(ALSO_COPY)}\n"
        f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
        f"pytest_add_cli_args ={lines(['-p', 'no:cacheprovider', '-q', '-n', '0'])}\n")


def mutmut(place: Path, *args: str, log=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AQTA_TEST_BACKENDS": "sqlite", "CI": "true"}  # CI: no Redis fails, never skips
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=place, env=env, text=True,
                          stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT)


def run_target(out: Path, name: str, children: int) -> dict:
    modules, tests = TARGETS[name]
    place = workspace(out, name)
    configure(place, modules, tests)
    started = time.monotonic()
    with open(place / "mutmut-run.log", "w") as log:
        mutmut(place, "run", "--max-children", str(children), log=log)
    return collect(out, name, (time.monotonic() - started) / 60)


def collect(out: Path, name: str, minutes: float | None = None) -> dict:
    """The score of a target's finished run, and its survivors written out with their diffs."""
    modules, _ = TARGETS[name]
    place = out / name
    mutmut(place, "export-cicd-stats")
    stats_file = place / "mutants" / "mutmut-cicd-stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    survivors = SURVIVOR.findall(mutmut(place, "results").stdout)
    with open(place / "survivors.txt", "w") as report:
        for mutant, status in survivors:
            report.write(f"### {mutant} ({status})\n{mutmut(place, 'show', mutant).stdout}\n")
    killed, total = stats.get("killed", 0), stats.get("total", 0)
    return {"target": name, "modules": modules, "killed": killed, "total": total,
            "survived": stats.get("survived", 0), "no_tests": stats.get("no_tests", 0),
            "timeout": stats.get("timeout", 0), "suspicious": stats.get("suspicious", 0),
            "score": round(100 * killed / total, 1) if total else None,
            "minutes": None if minutes is None else round(minutes, 1)}


def table(rows: list[dict]) -> str:
    """The score table; ``killed after`` and ``score after`` come from ``recheck.py``."""
    lines = ["| target | modules | mutants | killed | survived | no tests | timeout | score | minutes "
             "| killed after | score after |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['target']} | {', '.join(row['modules'])} | {row['total']} | {row['killed']} | "
                     f"{row['survived']} | {row['no_tests']} | {row['timeout']} | {row['score']} % | "
                     f"{row['minutes']} | {row.get('killed_after', '')} | "
                     f"{row.get('score_after', '')}{' %' if 'score_after' in row else ''} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="default: all, in priority order")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "mutation" / "work")
    parser.add_argument("--children", type=int, default=2, help="mutants run at once")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--collect", action="store_true", help="only read finished runs' results")
    options = parser.parse_args()
    if options.list:
        for name, (modules, tests) in TARGETS.items():
            print(f"{name}: {' '.join(modules)}  <-  {' '.join(tests)}")
        return
    unknown = set(options.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}; see --list")
    options.out.mkdir(parents=True, exist_ok=True)
    scores = options.out / "scores.json"
    # Earlier runs' rows are kept, so targets run one at a time add up to one table.
    rows = {row["target"]: row for row in json.loads(scores.read_text())} if scores.exists() else {}
    for name in options.targets or list(TARGETS):
        if options.collect:
            row = collect(options.out, name)
        else:
            row = run_target(options.out, name, options.children)
        print(table([row]).splitlines()[-1], flush=True)
        rows[name] = row
        ordered = [rows[target] for target in TARGETS if target in rows]
        (options.out / "scores.md").write_text(table(ordered))
        scores.write_text(json.dumps(ordered, indent=2))
    print(table(ordered))


if __name__ == "__main__":
    main()
