"""The one table: every figure for direct, Aqta (pro key), Aqta-healthcare and LiteLLM, the
Aqta/LiteLLM and healthcare/pro ratios, machine info."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
TARGETS = ("direct", "Aqta", "Aqta-healthcare", "LiteLLM")
HEALTHCARE_TARGET = 1.10  # issue 18: the healthcare key's figures within 10 % of the pro key's


def _get(result: dict, *path):
    for step in path:
        if result is None:
            return None
        result = result.get(step) if isinstance(result, dict) else None
    return result


def _added(figure: Callable[[dict], float | None]):
    """A gateway's figure minus the direct call's."""
    def added(result: dict, direct: dict) -> float | None:
        mine, base = figure(result), figure(direct)
        return None if mine is None or base is None else mine - base
    return added


def _mib(value):
    return None if value is None else value / MIB


def _best(result, key):
    return _get(result, "throughput", "best", key)


def _burst(workers: int, key: str):
    return lambda r: _get(r, "burst", str(workers), key)


@dataclass(frozen=True)
class Figure:
    label: str
    get: Callable[[dict], float | None]
    fmt: str = ".2f"
    added: bool = False  # shown as the gateway's value minus the direct call's
    gateway_only: bool = False  # no value for the direct call
    ratio: bool = True  # an Aqta/LiteLLM ratio means something
    key_cost: bool = False  # a figure the healthcare key's is held to, within 10 % of the pro key's
    higher_better: bool = False


def _latency(q):
    return lambda r: _get(r, "latency", "latency_ms", q)


def _ttft(q):
    return lambda r: _get(r, "ttft", "ttft_ms", q)


FIGURES = [
    Figure("latency p50, concurrency 1, no upstream delay (ms)", _latency("p50")),
    Figure("latency p99, concurrency 1 (ms)", _latency("p99")),
    Figure("**added latency p50** (gateway - direct, ms)", _latency("p50"), added=True, key_cost=True),
    Figure("**added latency p99** (ms)", _latency("p99"), added=True, key_cost=True),
    Figure("**max sustained req/s** (p99 < 1 s, upstream 20 ms)", lambda r: _best(r, "rps"), ".0f",
           key_cost=True, higher_better=True),
    Figure("  at concurrency", lambda r: _best(r, "concurrency"), ".0f", ratio=False),
    Figure("  p99 there (ms)", lambda r: _best(r, "p99_ms"), ".1f", ratio=False),
    Figure("TTFT p50, one stream at a time (ms)", _ttft("p50")),
    Figure("TTFT p99 (ms)", _ttft("p99")),
    Figure("**added TTFT p99** (ms)", _ttft("p99"), added=True, key_cost=True),
    Figure("**stall-free concurrent streams** (20 x 50 ms, no gap > 200 ms)",
           lambda r: _get(r, "stall_free", "max_streams"), ".0f"),
    Figure("1000 x 2 s streams at once, 1 worker: wall (s)", _burst(1, "wall_s"), key_cost=True),
    Figure("  max gap between chunks (ms)", _burst(1, "max_gap_ms"), ".0f", key_cost=True),
    Figure("  streams completed", _burst(1, "ok"), ".0f", key_cost=True, higher_better=True),
    Figure("1000 x 2 s streams at once, 2 workers: wall (s)", _burst(2, "wall_s")),
    Figure("  max gap between chunks (ms)", _burst(2, "max_gap_ms"), ".0f"),
    Figure("  streams completed", _burst(2, "ok"), ".0f"),
    Figure("RSS after warm-up (MiB, master + workers)", lambda r: _mib(_get(r, "rss", "idle")), ".0f",
           gateway_only=True),
    Figure("**peak RSS** (MiB)", lambda r: _mib(_get(r, "rss", "peak")), ".0f", gateway_only=True,
           key_cost=True),
    Figure("**peak RSS of one process** (MiB, the worker)",
           lambda r: _mib(_get(r, "rss", "peak_process")), ".0f", gateway_only=True),
    Figure("peak RSS with 2 workers (MiB, burst)", lambda r: _mib(_get(r, "rss", "peak_2_workers")),
           ".0f", gateway_only=True),
    Figure("RSS before soak (MiB)", lambda r: _mib(_get(r, "soak", "rss_before")), ".0f",
           gateway_only=True),
    Figure("RSS after soak (MiB)", lambda r: _mib(_get(r, "soak", "rss_after")), ".0f",
           gateway_only=True),
    Figure("**CPU per request** (ms, throughput test)",
           lambda r: _get(r, "throughput", "cpu_ms_per_request"), gateway_only=True, key_cost=True),
    Figure("**CPU per stream** (ms, 1000 x 2 s, 1 worker)", lambda r: _per_stream(r), gateway_only=True,
           key_cost=True),
]


def _per_stream(result: dict) -> float | None:
    cpu, ok = _get(result, "burst", "1", "cpu_s"), _get(result, "burst", "1", "ok")
    return cpu / ok * 1000 if cpu is not None and ok else None


def _fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _key_ratio(figure: Figure, healthcare, pro) -> str:
    """healthcare / pro, marked against the 10 % target where the figure is held to it."""
    if not figure.ratio or healthcare is None or pro in (None, 0):
        return "—"
    ratio = healthcare / pro
    if not figure.key_cost:
        return f"{ratio:.2f}"
    met = ratio >= 1 / HEALTHCARE_TARGET if figure.higher_better else ratio <= HEALTHCARE_TARGET
    return f"{ratio:.2f} {'✓' if met else '✗'}"


def table(results: dict[str, dict], workers: int) -> str:
    names = [n for n in TARGETS if n in results]
    ratio = "Aqta" in results and "LiteLLM" in results
    key_ratio = "Aqta" in results and "Aqta-healthcare" in results
    header = (["figure", *names] + (["Aqta/LiteLLM"] if ratio else [])
              + (["healthcare/pro"] if key_ratio else []))
    rows = [header, ["---"] + ["---:"] * (len(header) - 1)]
    direct = results.get("direct", {})
    for figure in FIGURES:
        values = {}
        for name in names:
            if name == "direct" and (figure.added or figure.gateway_only):
                values[name] = None
            elif figure.added:
                values[name] = _added(figure.get)(results[name], direct) if direct else None
            else:
                values[name] = figure.get(results[name])
        label = figure.label.replace("upstream 20 ms", f"upstream 20 ms, {workers} worker(s)")
        row = [label, *(_fmt(values[n], figure.fmt) for n in names)]
        if ratio:
            a, b = values.get("Aqta"), values.get("LiteLLM")
            usable = figure.ratio and a is not None and b not in (None, 0)
            row.append(f"{a / b:.2f}" if usable else "—")
        if key_ratio:
            row.append(_key_ratio(figure, values.get("Aqta-healthcare"), values.get("Aqta")))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    info = {"python": sys.version.split()[0], "kernel": platform.release(),
            "cores": str(os.cpu_count())}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            info["ram"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        first = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
        info["wrk"] = first[0].split(" [")[0] if first else "?"
    except OSError:
        info["wrk"] = "not installed"
    return info


def markdown(results: dict, meta: dict) -> str:
    m = meta["machine"]
    command = " ".join(["python benchmarks/perf/run.py", meta["argv"]]).strip()
    lines = [
        "# Aqta vs LiteLLM: benchmark results",
        "",
        f"Produced by `{command}` on {meta['date']} "
        f"({meta['mode']} run).",
        "",
        table(results, meta["workers"]),
        "",
        "Lower is better everywhere except req/s, stall-free streams and streams completed. "
        "\"Added\" figures are the gateway's percentile minus the direct call's."
        + (" **healthcare/pro**: the healthcare key's figure (every answer with its receipt) over "
           "the pro key's, same gateway and load; ✓ where it is within the 10 % target "
           f"(≤ {HEALTHCARE_TARGET:.2f}, or ≥ {1 / HEALTHCARE_TARGET:.2f} for req/s and streams "
           "completed), ✗ where not; the healthcare key runs neither the 2-worker burst nor the soak."
           if "Aqta-healthcare" in results else ""),
        "",
        "## Machine",
        "",
        f"- CPU: {m.get('cpu', '?')}, {m['cores']} logical cores; RAM {m.get('ram', '?')}; "
        f"Linux {m['kernel']}; Python {m['python']}; {m['wrk']}; "
        f"Redis server {meta.get('redis_server', '?')}",
        "- The load generators (wrk, the gevent client), the fake upstream and Redis run on the "
        "same machine as the gateway and share its cores.",
        "",
        "## Versions",
        "",
        "- Aqta side: " + ", ".join(f"{k} {v}" for k, v in (meta["versions"].get("Aqta")
                                                    or meta["versions"].get("Aqta-healthcare", {})).items()),
        "- LiteLLM side: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].get("LiteLLM", {}).items()),
        "",
        "## Settings",
        "",
        *[f"- {line}" for line in meta["settings"]],
        "",
    ]
    if meta.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in meta["notes"]], ""]
    details = meta.get("details")
    if details:
        lines += ["## Throughput steps", "", details, ""]
    return "\n".join(lines)


def steps_table(results: dict) -> str:
    rows = ["| target | concurrency | req/s | p50 (ms) | p99 (ms) | failed |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, result in results.items():
        for step in _get(result, "throughput", "steps") or []:
            rows.append(f"| {name} | {step['concurrency']} | {step['rps']:.0f} | {step['p50_ms']:.1f} "
                        f"| {step['p99_ms']:.1f} | {step['failed']} |")
    return "\n".join(rows)
