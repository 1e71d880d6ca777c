"""Folding per-day totals into periods: pure, table-driven."""
from __future__ import annotations

from datetime import date

import pytest

from app.analytics.cost_series import build_series, grand_total, period_start, periods
from storage.costs import CostTotals, DailyCost


@pytest.mark.parametrize("day,interval,start", [
    (date(2025, 5, 14), "day", date(2025, 5, 14)),
    (date(2025, 5, 14), "week", date(2025, 5, 12)),  # a Wednesday; weeks start on Monday
    (date(2025, 5, 12), "week", date(2025, 5, 12)),
    (date(2025, 1, 1), "week", date(2024, 12, 30)),  # across a year end
    (date(2025, 5, 31), "month", date(2025, 5, 1)),
])
def test_period_start(day, interval, start):
    assert period_start(day, interval) == start


@pytest.mark.parametrize("since,until,interval,bounds", [
    (date(2025, 5, 1), date(2025, 5, 4), "day",
     [("2025-05-01", "2025-05-02"), ("2025-05-02", "2025-05-03"), ("2025-05-03", "2025-05-04")]),
    (date(2025, 5, 14), date(2025, 5, 27), "week",  # clipped at both ends
     [("2025-05-14", "2025-05-19"), ("2025-05-19", "2025-05-26"), ("2025-05-26", "2025-05-27")]),
    (date(2024, 12, 15), date(2025, 3, 1), "month",
     [("2024-12-15", "2025-01-01"), ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01")]),
    (date(2024, 1, 31), date(2024, 3, 2), "month",  # February of a leap year
     [("2024-01-31", "2024-02-01"), ("2024-02-01", "2024-03-01"), ("2024-03-01", "2024-03-02")]),
])
def test_periods_cover_the_range_exactly(since, until, interval, bounds):
    assert [(p.start.isoformat(), p.end.isoformat()) for p in periods(since, until, interval)] == bounds


def test_build_series_sums_days_and_groups_into_their_periods():
    def row(day, group, cents):
        return DailyCost(day, group, CostTotals(requests=1, cost_microcents=cents * 10**6))

    days = [row(date(2025, 5, 12), "gpt-4o", 1), row(date(2025, 5, 13), "gpt-4o", 2),
            row(date(2025, 5, 13), "sonar", 4), row(date(2025, 5, 20), "sonar", 8)]
    series = build_series(days, date(2025, 5, 12), date(2025, 5, 26), "week")
    assert [(p.start, p.totals.requests, str(p.totals.cost_eur)) for p in series] == [
        (date(2025, 5, 12), 3, "0.07000000"), (date(2025, 5, 19), 1, "0.08000000")]
    assert {name: t.cost_microcents for name, t in series[0].groups.items()} == {
        "gpt-4o": 3 * 10**6, "sonar": 4 * 10**6}
    assert grand_total(series).cost_microcents == 15 * 10**6


def test_an_empty_range_has_zero_filled_periods():
    series = build_series([], date(2025, 5, 1), date(2025, 5, 3), "day")
    assert [p.totals for p in series] == [CostTotals(), CostTotals()]
    assert format(series[0].totals.cost_eur, "f") == "0.00000000"
