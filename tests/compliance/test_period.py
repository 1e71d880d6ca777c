"""The period a report covers: months and whole UTC days (pure)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.compliance.reports.model import Period
from app.compliance.reports.period import month_period, report_period
from app.errors import InvalidRequest


def midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)


@pytest.mark.parametrize(("month", "since", "until"), [
    ("2026-11", "2026-11-01", "2026-12-01"),
    ("2026-12", "2026-12-01", "2027-01-01"),
    ("2028-02", "2028-02-01", "2028-03-01"),
])
def test_a_month_is_its_days(month, since, until):
    assert month_period(month) == Period(date.fromisoformat(since), date.fromisoformat(until))


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "0000-01", "9999-12", "26-11"])
def test_a_month_that_is_not_one_is_refused(month):
    with pytest.raises(InvalidRequest):
        month_period(month)


def test_since_and_until_are_whole_days_up_to_a_year():
    assert report_period(None, midnight("2026-01-01"), midnight("2027-01-02")).days == 366
    assert report_period(None, midnight("2026-11-29"), midnight("2026-11-30")).days == 1
    today = datetime.now(UTC).date()
    assert report_period(None, midnight(today.isoformat()), None).until == today + timedelta(days=1)


@pytest.mark.parametrize(("month", "since", "until"), [
    (None, None, None),
    ("2026-11", midnight("2026-11-01"), None),
    (None, midnight("2026-11-02"), midnight("2026-11-01")),
    (None, midnight("2026-11-01"), midnight("2026-11-01")),
    (None, midnight("2026-11-01") + timedelta(hours=1), midnight("2026-11-03")),
    (None, midnight("2026-11-01"), midnight("2026-11-03") + timedelta(minutes=1)),
    (None, midnight("2026-01-01"), midnight("2027-01-03")),
])
def test_bad_periods_are_refused(month, since, until):
    with pytest.raises(InvalidRequest):
        report_period(month, since, until)
