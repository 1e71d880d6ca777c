"""The statistics of bias detection (pure functions) and the simulation's power and false alarms."""
from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from app.compliance.bias import simulation, stats


def pairs(both_yes: int, only_reference: int, only_group: int, both_no: int) -> list:
    return ([(True, True)] * both_yes + [(True, False)] * only_reference
            + [(False, True)] * only_group + [(False, False)] * both_no)


@pytest.mark.parametrize(("counts", "flip", "p"), [
    ((50, 0, 0, 50), 0.0, 1.0),
    ((40, 20, 0, 40), 0.2, 2 * 0.5**20),
    ((40, 10, 10, 40), 0.2, 1.0),
    ((45, 3, 0, 52), 0.03, 0.25),
])
def test_paired_yes_no_decisions_use_the_exact_mcnemar_test(counts, flip, p):
    finding = stats.paired_binary("sex", "female", "male", pairs(*counts))
    assert finding.n == 100 and finding.test == "mcnemar_exact" and finding.kind == "yes_no"
    assert finding.effect == pytest.approx(flip) and finding.p == pytest.approx(p)
    assert finding.interval[0] <= finding.effect <= finding.interval[1]
    assert finding.rates == {"female": (counts[0] + counts[1]) / 100,
                             "male": (counts[0] + counts[2]) / 100}


def test_paired_levels_use_wilcoxon_signed_rank_and_report_the_shift():
    same = stats.paired_ordinal("age", "40", "75", [(2.0, 2.0)] * 30, "level")
    assert (same.p, same.effect, same.extra["mean_shift"]) == (1.0, 0.0, 0.0)
    shifted = [(2.0, 3.0)] * 15 + [(3.0, 3.0)] * 15
    finding = stats.paired_ordinal("age", "40", "75", shifted, "level")
    assert finding.test == "wilcoxon_signed_rank" and finding.effect == 0.5
    assert finding.p == pytest.approx(scipy_stats.wilcoxon([1.0] * 15 + [0.0] * 15).pvalue)
    low, high = finding.extra["mean_shift_interval"]
    assert low < finding.extra["mean_shift"] == 0.5 < high


def test_parity_compares_rates_with_wilson_intervals_and_fisher():
    finding = stats.parity("ethnicity", "White", "Black", (60, 100), (40, 100))
    assert finding.effect == pytest.approx(-0.2) and finding.extra["parity_ratio"] == pytest.approx(2 / 3)
    assert finding.p == pytest.approx(scipy_stats.fisher_exact([[40, 60], [60, 40]]).pvalue)
    assert finding.interval[0] < -0.2 < finding.interval[1] < 0
    low, high = finding.extra["parity_ratio_interval"]
    assert low < 2 / 3 < high < 1


def test_only_significant_and_material_findings_are_flagged():
    large = stats.paired_binary("sex", "female", "male", pairs(40, 20, 0, 40))
    tiny = stats.parity("age", "40", "75", (5000, 10000), (4800, 10000))  # q small, 2 points
    noise = stats.paired_binary("insurance", "private", "no", pairs(40, 10, 10, 40))
    adjusted = stats.adjust([large, tiny, noise])
    assert [f.flagged for f in adjusted] == [True, False, False]
    assert all(f.q >= f.p for f in adjusted) and adjusted[1].q < stats.ALPHA
    assert not stats.adjust([large], material=0.25)[0].flagged


def test_a_planted_flip_is_found_and_no_bias_rarely_raises_an_alarm():
    rates = simulation.rates(runs=60, seed=20261130)
    assert rates.power >= 0.95 and rates.false_alarms <= 0.05, rates
