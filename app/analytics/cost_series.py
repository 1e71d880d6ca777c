"""Pure functions that fold per-day cost totals into day, week or month periods."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from storage.costs import GROUP_COLUMNS, CostTotals, DailyCost

INTERVALS = ("day", "week", "month")
GROUP_BY = tuple(sorted(GROUP_COLUMNS))  # what a cost series can be split by


@dataclass
class Period:
    """One point of the series: [start, end) clipped to the asked range."""

    start: date
    end: date
    totals: CostTotals = field(default_factory=CostTotals)
    groups: dict[str, CostTotals] = field(default_factory=dict)


def period_start(day: date, interval: str) -> date:
    """The first day of the period ``day`` falls in (weeks start on Monday, ISO 8601)."""
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown interval {interval!r}; use one of {', '.join(INTERVALS)}")


def next_period(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def periods(since: date, until: date, interval: str) -> list[Period]:
    """Every period touching [since, until), empty, in order."""
    result = []
    start = period_start(since, interval)
    while start < until:
        end = next_period(start, interval)
        result.append(Period(max(start, since), min(end, until)))
        start = end
    return result


def build_series(days: Iterable[DailyCost], since: date, until: date, interval: str) -> list[Period]:
    """Fold per-day (and per-group) totals into zero-filled periods over [since, until)."""
    series = periods(since, until, interval)
    by_start = {period_start(p.start, interval): p for p in series}
    for row in days:
        period = by_start[period_start(row.day, interval)]
        period.totals = period.totals + row.totals
        if row.group is not None:
            period.groups[row.group] = period.groups.get(row.group, CostTotals()) + row.totals
    return series


def grand_total(series: Iterable[Period]) -> CostTotals:
    total = CostTotals()
    for period in series:
        total = total + period.totals
    return total
