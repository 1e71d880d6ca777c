"""The risk rule set on the labelled set: precision and recall per category and for the level.

    python benchmarks/risk_rules.py [--rules path/to/rules.json] [--misses]

The labelled answers (``tests/data/risk_labelled.jsonl``) were written alongside the
rules, by the same hand: the figures show the rules do what they say on the cases
they were written for, not how they fare on real clinical traffic.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.healthcare.risk.rules import HIGH, RuleSet  # noqa: E402

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "risk_labelled.jsonl"


@dataclass
class Tally:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    def recall(self) -> float:
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0

    def add(self, expected: bool, predicted: bool) -> None:
        if expected and predicted:
            self.true_positive += 1
        elif predicted:
            self.false_positive += 1
        elif expected:
            self.false_negative += 1


def evaluate(rules: RuleSet, cases: list[dict]) -> tuple[dict[str, Tally], list[str]]:
    """Tallies per category and for ``high`` (key ``level=high``); the cases it got wrong."""
    tallies = {category: Tally() for category in rules.categories}
    tallies["level=high"] = Tally()
    misses = []
    for case in cases:
        result = rules.classify(case["request"], case["answer"])
        for category, tally in tallies.items():
            if category == "level=high":
                tally.add(case["level"] == HIGH, result.level == HIGH)
            else:
                tally.add(category in case["categories"], category in result.categories)
        if result.level != case["level"] or set(result.categories) != set(case["categories"]):
            misses.append(f"{case['request'][:60]!r}: expected {case['level']} {sorted(case['categories'])}, "
                          f"got {result.level} {sorted(result.categories)} ({', '.join(result.rule_ids)})")
    return tallies, misses


def load_cases(path: Path = LABELLED) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(tallies: dict[str, Tally]) -> str:
    lines = ["| category | labelled | precision | recall |", "|---|---:|---:|---:|"]
    for name, t in tallies.items():
        labelled = t.true_positive + t.false_negative
        lines.append(f"| {name} | {labelled} | {t.precision():.2f} | {t.recall():.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", help="a rule file (default: the one shipped)")
    parser.add_argument("--misses", action="store_true", help="list the cases classified wrongly")
    args = parser.parse_args()
    cases = load_cases()
    tallies, misses = evaluate(RuleSet.from_file(args.rules), cases)
    print(f"{len(cases)} labelled answers\n")
    print(table(tallies))
    if args.misses:
        print("\n" + "\n".join(misses))


if __name__ == "__main__":
    main()
