"""Loop detection on the labelled corpus: precision and recall per pattern, as a table.

``benchmarks/loop_corpus.py`` prints the table for the README; the tests assert on it.
Each sequence in ``tests/gateway/loops/loop_corpus.json`` is one key's traffic, replayed
through a ``LoopDetector`` with the default thresholds, and each loop again as its fast
variant: the same requests with no delay between them (an agent looping on a fast
upstream or on cached answers). A sequence counts as detected when any of its
requests is refused. The tests import ``run_corpus``.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.gateway.loops.detector import LoopDetector, LoopStore
from app.gateway.loops.similarity import fingerprint

CORPUS = Path(__file__).resolve().parent / "loop_corpus.json"
START = 1_717_400_000.0  # seconds since the epoch where every sequence starts
FAST_GAP = 0.001  # seconds between requests of a fast variant: each sent as the last is answered


def load_corpus(path: Path = CORPUS) -> list[dict]:
    """The labelled sequences, then a fast variant of each loop."""
    sequences = json.loads(path.read_text())["sequences"]
    return sequences + [fast_variant(s) for s in sequences if s["label"] == "loop"]


def fast_variant(sequence: dict) -> dict:
    """The same loop replayed with no delay between its requests."""
    requests = [{**request, "t": index * FAST_GAP} for index, request in enumerate(sequence["requests"])]
    return {**sequence, "name": f"{sequence['name']}, fast", "fast": True, "requests": requests}


def requests_of(sequence: dict) -> Iterator[tuple[float, dict, bool]]:
    """Each request's time, full body and whether the provider failed it."""
    bodies: list[dict] = []
    for request in sequence["requests"]:
        if "body" in request:
            body = request["body"]
        else:
            body = copy.deepcopy(bodies[request["from"]])
            body["messages"] = body["messages"] + request.get("append", [])
        bodies.append(body)
        yield request["t"], body, bool(request.get("upstream_error"))


@dataclass
class SequenceResult:
    name: str
    label: str  # "loop" or "ok"
    pattern: str | None  # expected
    loop_from: int | None
    catch_by: int | None
    fast: bool = False
    refusals: list[tuple[int, str]] = field(default_factory=list)  # (request index, pattern)

    @property
    def group(self) -> str:
        if self.label != "loop":
            return "not a loop"
        return f"{self.pattern}, fast" if self.fast else self.pattern

    @property
    def detected(self) -> bool:
        return bool(self.refusals)

    @property
    def first(self) -> int | None:
        return self.refusals[0][0] if self.refusals else None

    @property
    def on_time(self) -> bool:
        """Refused first within [loop_from, catch_by], as the pattern the corpus names."""
        return (self.detected and self.loop_from <= self.first <= self.catch_by
                and self.refusals[0][1] == self.pattern)


def run_sequence(detector: LoopDetector, sequence: dict, key_id: str) -> SequenceResult:
    """Replay one sequence as the gateway would: a request is finished when answered or refused,
    and discarded when its provider failed."""
    result = SequenceResult(sequence["name"], sequence["label"], sequence.get("pattern"),
                            sequence.get("loop_from"), sequence.get("catch_by"),
                            sequence.get("fast", False))
    answer_seconds = sequence.get("answer_seconds")
    in_flight: list[tuple[float, float, str]] = []  # (answered at, started at, fingerprint)
    for index, (at, body, failed) in enumerate(requests_of(sequence)):
        now = START + at
        for answered in sorted(r for r in in_flight if r[0] <= now):
            detector.finish(key_id, answered[1], answered[2])
            in_flight.remove(answered)
        verdict = detector.check(key_id, body, now)
        if verdict is not None:
            result.refusals.append((index, verdict.pattern))
            detector.finish(key_id, now, fingerprint(body))
        elif failed:
            detector.discard(key_id, now, fingerprint(body))
        elif answer_seconds is None:
            detector.finish(key_id, now, fingerprint(body))
        else:
            in_flight.append((now + answer_seconds, now, fingerprint(body)))
    return result


def run_corpus(store: LoopStore, corpus: list[dict] | None = None,
               key_prefix: str = "corpus") -> list[SequenceResult]:
    detector = LoopDetector(store)
    return [run_sequence(detector, sequence, f"{key_prefix}:{sequence['name']}")
            for sequence in corpus or load_corpus()]


def table(results: list[SequenceResult]) -> str:
    """A Markdown table: per group, sequences, detected, on time; then precision and recall."""
    groups = ["repeat", "near_duplicate", "cycle", "repeat, fast", "near_duplicate, fast",
              "cycle, fast", "not a loop"]
    lines = ["| sequences | count | refused | caught in time, right pattern |", "|---|---|---|---|"]
    for group in groups:
        members = [r for r in results if r.group == group]
        on_time = sum(r.on_time for r in members) if group != "not a loop" else "n/a"
        lines.append(f"| {group} | {len(members)} | {sum(r.detected for r in members)} | {on_time} |")
    loops = [r for r in results if r.label == "loop"]
    flagged = [r for r in results if r.detected]
    true_positives = sum(r.label == "loop" for r in flagged)
    precision = true_positives / len(flagged) if flagged else 1.0
    recall = true_positives / len(loops) if loops else 1.0
    lines.append("")
    lines.append(f"precision {precision:.3f}, recall {recall:.3f} "
                 f"({true_positives}/{len(loops)} loops, "
                 f"{len(flagged) - true_positives} false positives in "
                 f"{len(results) - len(loops)} normal sequences)")
    misses = [f"{r.name} (first refused: {r.first}, {r.refusals[0][1] if r.refusals else '-'})"
              for r in results if (r.label == "loop" and not r.on_time) or (r.label == "ok" and r.detected)]
    if misses:
        lines.append("not as labelled: " + "; ".join(misses))
    return "\n".join(lines)
