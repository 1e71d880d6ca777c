"""Re-check a finished target's surviving mutants against tests written after its run.

    python benchmarks/mutation/recheck.py TARGET TEST [TEST ...]

A mutant that survived a target's test selection can only be killed by a test
that was not in it, so running the survivors alone against the new (or changed)
tests gives the target's score with them exactly, in minutes instead of a full
re-run. Each survivor in ``--out``/TARGET/survivors.txt is applied (its diff)
to a fresh copy of the current work tree in ``--out``/TARGET-recheck, the tests
run on SQLite stopping at the first failure, and the file is restored. The result
goes to ``--out``/TARGET-recheck/recheck.txt and into the target's row of
``--out``/scores.md (the ``killed after`` column).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from run import ROOT, table, workspace
from targets import TARGETS


def survivors(place: Path) -> list[tuple[str, str, list[str]]]:
    """(mutant, module, diff lines) for each survivor in the target's survivors.txt."""
    found = []
    for block in (place / "survivors.txt").read_text().split("### ")[1:]:
        mutant = block.split(" ", 1)[0]
        module = re.search(r"^--- (\S+)$", block, re.M).group(1)
        hunk = [line for line in block[block.index("\n@@"):].split("\n")[2:] if line[:1] in (" ", "-", "+")]
        found.append((mutant, module, hunk))
    return found


def timed_out(place: Path) -> set[str]:
    """The survivors that ran into mutmut's timeout (an endless loop, mostly)."""
    return set(re.findall(r"^### (\S+) \(timeout\)$", (place / "survivors.txt").read_text(), re.M))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def mutated(source: str, hunk: list[str]) -> str:
    """``source`` with the mutant's diff applied; lines are matched stripped (mutmut shows them dedented)."""
    old = [line[1:] for line in hunk if line[0] in " -"]
    lines = source.split("\n")
    starts = [i for i in range(len(lines) - len(old) + 1)
              if all(lines[i + j].strip() == old[j].strip() for j in range(len(old)))]
    if len(starts) != 1:
        raise ValueError("the mutant's lines are not found once in the module")
    at, out, delta = starts[0], [], None
    for line in hunk:
        if line[0] == " ":
            out.append(lines[at])
            at += 1
        elif line[0] == "-":
            if delta is None:
                delta = _indent(lines[at]) - _indent(line[1:])
            at += 1
        else:
            if delta is None:
                delta = _indent(lines[at]) - _indent(line[1:])
            out.append(" " * (_indent(line[1:]) + delta) + line[1:].lstrip(" "))
    return "\n".join(lines[:starts[0]] + out + lines[at:])


def killed(checkout: Path, module: str, hunk: list[str], tests: list[str], timeout: float) -> bool:
    """Whether ``tests`` fail with the mutant applied; the module is restored after."""
    original = (ROOT / module).read_text()
    (checkout / module).write_text(mutated(original, hunk))
    env = {**os.environ, "AQTA_TEST_BACKENDS": "sqlite", "CI": "true", "PYTHONPATH": str(checkout)}
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
                              *tests],
                             cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout)
        return run.returncode != 0
    except subprocess.TimeoutExpired:
        return True
    finally:
        (checkout / module).write_text(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("tests", nargs="+", help="the tests added or changed since the target's run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "mutation" / "work")
    parser.add_argument("--only", default="", help="only the survivors whose name contains this")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds per survivor; a mutant that runs longer (an endless loop) is caught")
    options = parser.parse_args()
    checkout = workspace(options.out, f"{options.target}-recheck{options.only}")
    lines = []
    for mutant, module, hunk in survivors(options.out / options.target):
        if options.only not in mutant or mutant in timed_out(options.out / options.target):
            continue  # timed out in the run: caught already (the suite hangs), and slow to see again
        try:
            caught = killed(checkout, module, hunk, options.tests, options.timeout)
            verdict = "killed" if caught else "survived"
        except ValueError:  # the code it changed is gone (dead code removed since the run)
            verdict = "removed"
        lines.append(f"{verdict:8} {mutant}")
        print(lines[-1], flush=True)
    now_killed = sum(line.startswith(("killed", "removed")) for line in lines)
    (checkout / "recheck.txt").write_text(f"tests: {' '.join(options.tests)}\n" + "\n".join(lines) + "\n")
    print(f"{now_killed} of {len(lines)} survivors killed or gone")
    if options.only:  # a part of the survivors: the table's row stays as it was
        return
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
