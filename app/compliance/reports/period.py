"""The period a report covers: a calendar month, or whole UTC days from since to until."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from app.compliance.reports.model import Period
from app.errors import InvalidRequest
from storage.ids import utcnow

MAX_DAYS = 366  # a report covers at most a year


def _day(moment: datetime, name: str) -> date:
    if moment.timetz().replace(tzinfo=None) != time():
        raise InvalidRequest(f"{name}: reports cover whole UTC days; give a date (YYYY-MM-DD) "
                             "or midnight UTC.", field=name)
    return moment.date()


def month_period(month: str) -> Period:
    """``YYYY-MM`` as the days of that month."""
    try:
        first = date.fromisoformat(f"{month}-01")
        return Period(first, (first.replace(day=28) + timedelta(days=4)).replace(day=1))
    except (ValueError, OverflowError):  # not a month, or December 9999
        raise InvalidRequest("month: give a month as YYYY-MM, e.g. 2026-11.", field="month") from None


def report_period(month: str | None, since: datetime | None, until: datetime | None) -> Period:
    """The period asked for: ``month``, or ``since`` to ``until`` (default: today included)."""
    if month is not None:
        if since is not None or until is not None:
            raise InvalidRequest("Give either month or since/until, not both.", field="month")
        period = month_period(month)
    elif since is None:
        raise InvalidRequest("Give the period: month (YYYY-MM) or since (and until).", field="since")
    else:
        end = _day(until, "until") if until else utcnow().date() + timedelta(days=1)
        period = Period(_day(since, "since"), end)
        if period.since >= period.until:
            raise InvalidRequest("since must be before until.", field="since")
    if period.days > MAX_DAYS:
        raise InvalidRequest(f"A report covers at most {MAX_DAYS} days.", field="since")
    return period
