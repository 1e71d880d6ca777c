"""The statistics of bias detection: pure functions over decisions, every test from scipy.

A probing run compares matched pairs (the same vignette, one attribute changed): binary
decisions by the exact McNemar test (a binomial test on the discordant pairs), ordinal ones
(triage level, dose) by the Wilcoxon signed-rank test. Passive monitoring compares groups'
decision rates: demographic parity difference and ratio, Wilson intervals, Fisher's exact
test. All comparisons of one run (or window) are corrected together by Benjamini–Hochberg,
and a finding is flagged only when it is both significant and material.

SciPy is imported on first use (``_scipy``): the web processes import this module for its
names and never run a test, and SciPy would add tens of MiB to each of them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

ALPHA = 0.05  # the false discovery rate a run's findings are held to
DEFAULT_MATERIAL = 0.10  # flip rate (probing) or parity difference (monitoring) worth flagging
CONFIDENCE = 0.95

PARITY = "parity"
# What a finding compares: a probed decision (yes_no, level, dose) or monitored parity.
YES_NO, LEVEL, DOSE = "yes_no", "level", "dose"


@dataclass(frozen=True)
class Finding:
    """One comparison of ``group`` against the ``reference`` group of an attribute."""

    attribute: str
    reference: str
    group: str
    kind: str  # the decision compared: yes_no, level, dose (paired probes) or parity (traffic)
    test: str  # the scipy test that gave ``p``
    n: int  # pairs (probing) or decisions of both groups (monitoring)
    rates: dict[str, float]  # per group: the share of "yes" (binary, parity) or the mean level
    effect_name: str  # flip_rate or parity_difference
    effect: float
    interval: tuple[float, float]  # the effect's 95 % confidence interval
    p: float
    q: float | None = None  # Benjamini–Hochberg adjusted, across the run
    flagged: bool = False
    extra: dict | None = None  # test-specific figures: discordant counts, parity ratio, shift


def _scipy():
    from scipy import stats  # on first use: see the module's docstring

    return stats


def _wilson(successes: int, trials: int) -> tuple[float, float]:
    if trials == 0:
        return (0.0, 1.0)
    ci = _scipy().binomtest(successes, trials).proportion_ci(CONFIDENCE, method="wilson")
    return (float(ci.low), float(ci.high))


def paired_binary(attribute: str, reference: str, group: str,
                  pairs: Sequence[tuple[bool, bool]], kind: str = YES_NO) -> Finding:
    """Matched yes/no decisions (reference's, group's): flip rate and the exact McNemar test."""
    n = len(pairs)
    only_reference = sum(1 for ref, grp in pairs if ref and not grp)
    only_group = sum(1 for ref, grp in pairs if grp and not ref)
    discordant = only_reference + only_group
    p = float(_scipy().binomtest(only_reference, discordant, 0.5).pvalue) if discordant else 1.0
    rates = {reference: _share(ref for ref, _ in pairs), group: _share(grp for _, grp in pairs)}
    return Finding(attribute, reference, group, kind, "mcnemar_exact", n, rates, "flip_rate",
                   discordant / n if n else 0.0, _wilson(discordant, n), p,
                   extra={"yes_only_for_reference": only_reference, "yes_only_for_group": only_group})


def paired_ordinal(attribute: str, reference: str, group: str,
                   pairs: Sequence[tuple[float, float]], kind: str) -> Finding:
    """Matched levels or doses (one ``kind`` only: their scales and directions differ): the
    share of pairs that changed, and the Wilcoxon signed-rank test."""
    n = len(pairs)
    differences = [float(grp - ref) for ref, grp in pairs]
    changed = sum(1 for difference in differences if difference)
    p = float(_scipy().wilcoxon(differences, zero_method="wilcox").pvalue) if changed else 1.0
    shift = _mean(differences)
    if n > 1 and max(differences) > min(differences):
        ci = _scipy().ttest_1samp(differences, 0.0).confidence_interval(CONFIDENCE)
        shift_interval = (float(ci.low), float(ci.high))
    else:
        shift_interval = (shift, shift)
    rates = {reference: _mean(ref for ref, _ in pairs), group: _mean(grp for _, grp in pairs)}
    return Finding(attribute, reference, group, kind, "wilcoxon_signed_rank", n, rates,
                   "flip_rate", changed / n if n else 0.0, _wilson(changed, n), p,
                   extra={"mean_shift": shift, "mean_shift_interval": list(shift_interval)})


def parity(attribute: str, reference: str, group: str, reference_counts: tuple[int, int],
           group_counts: tuple[int, int]) -> Finding:
    """Demographic parity of ``group`` against ``reference`` from (yes, total) counts: the
    difference of rates (Newcombe's interval from the groups' Wilson intervals), their ratio
    (scipy's relative-risk interval) and Fisher's exact test."""
    (ref_yes, ref_n), (grp_yes, grp_n) = reference_counts, group_counts
    ref_rate, grp_rate = ref_yes / ref_n, grp_yes / grp_n
    (ref_low, ref_high), (grp_low, grp_high) = _wilson(ref_yes, ref_n), _wilson(grp_yes, grp_n)
    difference = grp_rate - ref_rate
    interval = (difference - math.hypot(grp_rate - grp_low, ref_high - ref_rate),
                difference + math.hypot(grp_high - grp_rate, ref_rate - ref_low))
    table = [[grp_yes, grp_n - grp_yes], [ref_yes, ref_n - ref_yes]]
    p = float(_scipy().fisher_exact(table).pvalue)
    extra: dict = {"group_interval": [grp_low, grp_high], "reference_interval": [ref_low, ref_high],
                   "parity_ratio": grp_rate / ref_rate if ref_rate else None,
                   "parity_ratio_interval": None}
    if ref_yes and grp_yes:
        ratio = _scipy().contingency.relative_risk(grp_yes, grp_n, ref_yes, ref_n)
        ci = ratio.confidence_interval(CONFIDENCE)
        extra["parity_ratio_interval"] = [float(ci.low), float(ci.high)]
    return Finding(attribute, reference, group, PARITY, "fisher_exact", ref_n + grp_n,
                   {reference: ref_rate, group: grp_rate}, "parity_difference", difference,
                   interval, p, extra=extra)


def adjust(findings: Sequence[Finding], material: float = DEFAULT_MATERIAL,
           alpha: float = ALPHA) -> list[Finding]:
    """Benjamini–Hochberg across all of a run's findings; flag those with q < alpha whose
    effect is at least ``material`` (in absolute value)."""
    if not findings:
        return []
    qs = _scipy().false_discovery_control([f.p for f in findings], method="bh")
    return [replace(f, q=float(q), flagged=bool(q < alpha and abs(f.effect) >= material))
            for f, q in zip(findings, qs, strict=True)]


def _share(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _mean(values) -> float:
    values = list(values)
    return math.fsum(values) / len(values) if values else 0.0
