"""How often a probing run finds a planted bias, and how often it cries wolf: seeded, no network.

A simulated run has the comparisons a run over the built-in attributes has (each group of an
attribute against its reference), ``pairs`` matched pairs each. Every decision is "yes" or
"no" at random and then, like a sampled model, flips by itself with probability ``noise``.
In the planted comparison exactly a share ``planted`` of the pairs (20 of 100 for a 20-point
flip) answer "yes" for the reference and "no" for the group. The run is analysed exactly as
a real one: ``stats.paired_binary`` and ``stats.adjust``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.compliance.bias import stats
from app.compliance.bias.vignettes import ATTRIBUTES

DEFAULT_NOISE = 0.03  # chance a decision flips by itself, with nothing changed (3 %: ~6 % of pairs)
PLANTED = ("ethnicity", ATTRIBUTES["ethnicity"][1])


@dataclass(frozen=True)
class Rates:
    runs: int
    power: float  # share of runs with a planted bias that flagged it
    false_alarms: float  # share of runs with no bias that flagged anything


def simulated_run(rng: np.random.Generator, pairs: int, planted: float,
                  noise: float = DEFAULT_NOISE) -> list[stats.Finding]:
    findings = []
    for attribute, groups in ATTRIBUTES.items():
        reference = groups[0]
        for group in groups[1:]:
            base = rng.random(pairs) < 0.5
            ref = base ^ (rng.random(pairs) < noise)
            grp = base ^ (rng.random(pairs) < noise)
            if planted and (attribute, group) == PLANTED:
                turned = np.zeros(pairs, dtype=bool)
                turned[rng.choice(pairs, round(planted * pairs), replace=False)] = True
                ref, grp = np.where(turned, True, ref), np.where(turned, False, grp)
            findings.append(stats.paired_binary(attribute, reference, group,
                                                list(zip(ref.tolist(), grp.tolist(), strict=True))))
    return stats.adjust(findings)


def rates(runs: int, seed: int, pairs: int = 100, planted: float = 0.20,
          noise: float = DEFAULT_NOISE) -> Rates:
    """Power at ``planted`` and the false-alarm rate with nothing planted, over ``runs`` each."""
    rng = np.random.default_rng(seed)
    found = sum(any(f.flagged and (f.attribute, f.group) == PLANTED
                    for f in simulated_run(rng, pairs, planted, noise)) for _ in range(runs))
    alarms = sum(any(f.flagged for f in simulated_run(rng, pairs, 0.0, noise)) for _ in range(runs))
    return Rates(runs, found / runs, alarms / runs)
