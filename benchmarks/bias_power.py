"""Bias detection's power and false alarms by simulation: seeded, pure, no network.

    python benchmarks/bias_power.py [--runs 2000] [--seed 1] [--pairs 100] [--planted 0.20]

Each simulated run has the seven comparisons of a run over the built-in attributes (sex,
ethnicity, age, insurance: each group against its reference), ``--pairs`` pairs each, decisions
that flip by themselves with probability ``noise``, and, for power, a planted flip of
``--planted`` of the pairs against one group. It is tested as a real run is (exact McNemar,
Benjamini-Hochberg, q < 0.05 and a flip rate of at least 10 points). The test suite asserts
the same figures on fewer runs (tests/compliance/test_bias_stats.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.compliance.bias.simulation import DEFAULT_NOISE, rates  # noqa: E402

NOISES = (0.0, DEFAULT_NOISE, 0.05, 0.10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs with, and as many without, a bias")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--planted", type=float, default=0.20)
    args = parser.parse_args()
    print(f"{args.runs} runs each, {args.pairs} pairs per comparison, planted flip "
          f"{args.planted:.0%}, seed {args.seed}")
    print(f"{'noise per decision':>20} {'power':>8} {'false alarms':>13}")
    for noise in NOISES:
        result = rates(args.runs, args.seed, args.pairs, args.planted, noise)
        marker = "  (default)" if noise == DEFAULT_NOISE else ""
        print(f"{noise:>20.0%} {result.power:>8.1%} {result.false_alarms:>13.1%}{marker}")


if __name__ == "__main__":
    main()
