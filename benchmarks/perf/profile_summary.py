"""Turn py-spy's raw collapsed stacks of one gateway worker into a readable top list.

    python profile_summary.py aqta-profile.raw > profile.txt
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")
OWN_PACKAGES = ("app/", "providers/", "storage/", "workers/", "wsgi.py")
OWN_PATH = re.compile(r"/((?:app|providers|storage|workers)/.*|wsgi\.py)$")
TOP = 30


def short_path(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    match = re.search(r"lib/python3\.\d+/(.*)", path)
    if match:
        return "stdlib/" + match.group(1)
    match = OWN_PATH.search(path) if path.startswith("/") and "-packages/" not in path else None
    return match.group(1) if match else path  # py-spy gives a checkout's own files relative


def frame_key(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame)
    if not match:
        return frame, ""
    return match.group("name"), short_path(match.group("path"))


def component(path: str) -> str:
    if path.startswith(OWN_PACKAGES):
        parts = path.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    if path.startswith("stdlib/"):
        return "stdlib:" + path.split("/")[1].removesuffix(".py")
    return path.split("/")[0].removesuffix(".py") or "?"


def is_own(path: str) -> bool:
    return path.startswith(OWN_PACKAGES)


def load(raw: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_key(f) for f in stack.split(";")], int(count)))
    return stacks


def _table(title: str, counter: Counter, total: int, label=lambda k: k) -> list[str]:
    lines = [title, "-" * len(title)]
    for key, count in counter.most_common(TOP):
        lines.append(f"{100 * count / total:6.1f}%  {count:7d}  {label(key)}")
    return lines + [""]


def summarise(raw: Path, info: dict | None = None) -> str:
    stacks = load(raw)
    total = sum(count for _, count in stacks) or 1
    own_self, inclusive, by_component, under_own = Counter(), Counter(), Counter(), Counter()
    for frames, count in stacks:
        name, path = frames[-1]
        own_self[(name, path)] += count
        by_component[component(path)] += count
        for key in set(frames):
            inclusive[key] += count
        innermost = next((f for f in reversed(frames) if is_own(f[1])), None)
        under_own[innermost or ("(outside Aqta code: server, gevent hub, WSGI)", "")] += count

    def label(key):
        return f"{key[0]}  ({key[1]})" if key[1] else key[0]

    head = ["py-spy profile of one Aqta gunicorn (gevent) worker under load; idle samples excluded.",
            f"samples: {total}"]
    if info:
        load_ = info.get("load") or {}
        seconds, rate = info.get("seconds"), info.get("rate")
        busy = total / (seconds * rate) if seconds and rate else None
        head = [
            f"py-spy record --rate {rate} --nonblocking --format raw, {seconds} s, on worker pid "
            f"{info.get('worker_pid')} (the only worker), while wrk drove {load_.get('concurrency')} "
            f"connections at it (upstream answering in 20 ms): {load_.get('rps', 0):.0f} req/s, "
            f"p99 {load_.get('p99_ms', 0):.0f} ms.",
            f"samples: {total} of {seconds * rate} possible"
            + (f" -> the worker was on CPU {100 * busy:.0f}% of the time." if busy else "."),
            "Percentages are of the on-CPU samples.",
        ]
    out = head + [""]
    out += _table("Self time by component (package or Aqta folder)", by_component, total)
    out += _table("Time in or under each innermost Aqta function (what Aqta code costs, callees included)",
                  under_own, total, label)
    out += _table("Top functions by self time", own_self, total, label)
    out += _table("Top functions by inclusive time", inclusive, total, label)
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1])))
