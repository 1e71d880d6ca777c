"""The monthly quota's calendar and its refusal, as pure functions."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.gateway.admission.quotas import (
    Reservation,
    current_period,
    month_start,
    next_period_start,
    quota_exceeded,
)


@pytest.mark.parametrize("period, starts", [
    ("2026-01", datetime(2026, 2, 1, tzinfo=UTC)),
    ("2026-11", datetime(2026, 12, 1, tzinfo=UTC)),
    ("2026-12", datetime(2027, 1, 1, tzinfo=UTC)),
])
def test_the_next_period_starts_at_midnight_utc_on_the_first_of_the_next_month(period, starts):
    assert next_period_start(period) == starts
    assert next_period_start(period).utcoffset() is not None  # aware: never compared as local time


@pytest.mark.parametrize("period, starts", [
    ("2026-01", datetime(2026, 1, 1, tzinfo=UTC)),
    ("2026-12", datetime(2026, 12, 1, tzinfo=UTC)),
])
def test_a_period_starts_at_midnight_utc_on_its_first_day(period, starts):
    assert month_start(period) == starts
    assert month_start(period).utcoffset() is not None  # aware: never compared as local time


def test_the_period_is_the_utc_month():
    assert current_period(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"


@pytest.fixture
def host_five_hours_behind_utc(monkeypatch):
    """The process's local time zone is UTC-5 (POSIX spelling: no zone files needed)."""
    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_period_is_the_utc_month_on_a_host_that_is_not_on_utc(host_five_hours_behind_utc):
    # 20:00 on New Year's Eve five hours behind UTC is already January in UTC.
    assert current_period(datetime(2026, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5)))) == "2027-01"
    assert current_period(datetime(2026, 12, 31, 20, 0)) == "2027-01"  # naive: the host's local time
    assert current_period() == datetime.now(UTC).strftime("%Y-%m")


@pytest.mark.parametrize("scope, whose", [("key:k1", "this key"), ("account:u1", "this account")])
def test_the_refusal_names_whose_quota_its_size_and_when_it_resets(scope, whose):
    refusal = quota_exceeded({scope: 1_000_000}, scope, "2026-12")
    assert refusal.status == 402 and refusal.code == "quota_exceeded"
    assert refusal.message == (f"The monthly quota of 1,000,000 requests for {whose} is used up; "
                               "it resets at 2027-01-01T00:00:00Z.")


@pytest.mark.parametrize("limit, used, percents", [
    (1000, 800, [80]),
    (1000, 799, []),
    (1000, 1000, [100]),
    (3, 3, [80, 100]),  # 80 % of 3 is 2.4: the alert waits for the request that crosses it
    (3, 2, []),
])
def test_an_alert_line_is_reached_by_the_one_request_that_crosses_it(limit, used, percents):
    reservation = Reservation(("key:k1",), "2026-12", (limit,), (used,))
    assert reservation.thresholds_reached() == [("key:k1", percent, limit, used) for percent in percents]
