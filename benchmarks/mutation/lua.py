"""Mutation testing of admission's Lua script, which mutmut leaves alone (it is a string).

    python benchmarks/mutation/lua.py [--out DIR]

Each mutant swaps one comparison or logical operator, shifts one number by one
(not the argument positions), or deletes one ``redis.call`` statement in the script's own part of
``app/gateway/admission/counters.py`` (``_ADMIT``; the quota and loop functions
it includes are not mutated here). The Redis-mode admission tests run against
each, on SQLite, stopping at the first failure. Not part of CI.

A mutant can make the script loop for ever, which blocks the whole Redis server,
so every mutant gets a redis-server of its own on a free port; ``CI=true`` makes
a test fail, not skip, when that server does not answer.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from run import ROOT, workspace

MODULE = "app/gateway/admission/counters.py"
START, END = '_ADMIT = RESERVE_FUNCTION + RECORD_FUNCTION + """', '"""'
TESTS = ["tests/gateway/admission/test_admission.py", "tests/gateway/admission/test_redis_faults.py",
         "tests/gateway/loops/test_loops_http.py", "tests/gateway/test_budgets.py"]
SELECT = "redis"  # pytest -k: the tests that run the script
SWAPS = {"<=": "<", ">=": ">", "<": "<=", ">": ">=", "==": "~=", "~=": "==", " and ": " or ",
         " or ": " and "}
OPERATOR = re.compile(r"<=|>=|==|~=|(?<![<>=~-])[<>](?!=)| and | or ")
NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
# Numbers on the lines that unpack ARGV and KEYS are positions: shifting one breaks every call.
WIRING = re.compile(r"ARGV|KEYS|next_key|next_arg")


def mutants(script: str) -> list[tuple[int, int, str, str]]:
    """(start, end, old, new) for every mutant of ``script``."""
    found = [(m.start(), m.end(), m.group(), SWAPS[m.group()]) for m in OPERATOR.finditer(script)]
    for m in NUMBER.finditer(script):
        line = script[script.rfind("\n", 0, m.start()) + 1:script.find("\n", m.start())]
        if WIRING.search(line):
            continue
        found.append((m.start(), m.end(), m.group(), str(int(m.group()) + 1)))
        if int(m.group()):
            found.append((m.start(), m.end(), m.group(), str(int(m.group()) - 1)))
    for m in re.finditer(r"^ *(redis\.call\([^\n]*\))$", script, re.M):
        found.append((m.start(1), m.end(1), m.group(1), "-- deleted"))
    return sorted(found)


def private_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """A throwaway redis-server on a free loopback port, answering; and its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    ping = ["redis-cli", "-p", str(port), "ping"]
    while subprocess.run(ping, capture_output=True).stdout.strip() != b"PONG":
        if time.monotonic() > deadline:
            raise RuntimeError("the private redis-server did not start")
        time.sleep(0.1)
    return server, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "mutation" / "work")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant")
    parser.add_argument("--start", type=int, default=1, help="resume: skip the mutants before this one")
    options = parser.parse_args()
    place = workspace(options.out, "lua")
    original = (place / MODULE).read_text()
    begin = original.index(START) + len(START)
    script = original[begin:original.index(END, begin)]
    env = {**os.environ, "AQTA_TEST_BACKENDS": "sqlite", "PYTHONPATH": str(place), "CI": "true"}
    results = []
    started = time.monotonic()
    for number, (start, end, old, new) in enumerate(mutants(script), 1):
        if number < options.start:
            continue
        line = script.count("\n", 0, start)
        (place / MODULE).write_text(original[:begin] + script[:start] + new + script[end:]
                                    + original[begin + len(script):])
        server, env["AQTA_TEST_REDIS_URL"] = private_redis(place)
        try:
            run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0",
                                  "-p", "no:cacheprovider",
                                  "-k", SELECT, *TESTS], cwd=place, env=env, capture_output=True,
                                 text=True, timeout=options.timeout)
            verdict = "survived" if run.returncode == 0 else "killed"
        except subprocess.TimeoutExpired:
            verdict = "timeout"
        finally:
            server.kill()
            server.wait()
        text = script.splitlines()[line].strip()
        results.append((verdict, line, old, new, text))
        print(f"{number:3} {verdict:8} line {line}: {old!r} -> {new!r}   {text}", flush=True)
    (place / MODULE).write_text(original)
    killed = sum(verdict != "survived" for verdict, *_ in results)
    summary = (f"admission Lua script: {killed}/{len(results)} killed "
               f"({100 * killed / len(results):.1f} %) in {(time.monotonic() - started) / 60:.1f} min")
    survivors = [f"  survived: line {line}: {old!r} -> {new!r}   {text}"
                 for verdict, line, old, new, text in results if verdict == "survived"]
    (place / "summary.txt").write_text("\n".join([summary, *survivors]) + "\n")
    print(summary)


if __name__ == "__main__":
    main()
