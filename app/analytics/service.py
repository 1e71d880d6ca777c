"""Analytics as a service: the request history a page at a time, and cost reports.

The JSON API (app.api.analytics) and the dashboard's pages both call these, so the
tier rules and the range rules live once (cursors: ``app.analytics.cursors``).
Every tier sees its own costs this month, not split (the basic monitoring the
free tier is sold: each answer's cost is on it anyway); other ranges, splits and
the request history need a tier with analytics.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import storage.costs as costs_repo
import storage.request_history as history_repo
from app.analytics.cost_series import Period, build_series, grand_total, periods
from app.analytics.cursors import decode_cursor, encode_cursor
from app.errors import InsufficientTier, InvalidRequest
from app.tiers import TIERS
from storage.costs import CostTotals
from storage.ids import utcnow
from storage.records import RequestRecord
from storage.request_history import HistoryFilter, Position

DEFAULT_RANGE_DAYS = 30  # the costs range when since is not given
MAX_RANGE_DAYS = 3660  # ten years
MAX_PERIODS = 1000  # points in one series


@dataclass(frozen=True)
class RequestPage:
    data: list[RequestRecord]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True)
class CostReport:
    since: date
    until: date  # exclusive
    interval: str
    group_by: str | None
    totals: CostTotals
    series: list[Period]


def require_analytics(tier: str) -> None:
    """InsufficientTier unless ``tier`` includes analytics."""
    if not TIERS[tier].analytics:
        raise InsufficientTier(f"Analytics needs the starter tier or above; this account is on "
                               f"the {tier} tier.")


def month_start(today: date) -> date:
    return today.replace(day=1)


def _basic_range(tier: str, start: date, group_by: str | None, today: date) -> None:
    """InsufficientTier if a tier without analytics asks beyond this month's costs, unsplit."""
    if TIERS[tier].analytics:
        return
    first = month_start(today)
    if group_by or start < first:
        raise InsufficientTier(f"The {tier} tier sees this month's costs (since {first}), not "
                               "split; earlier days and group_by need the starter tier or above.")


def request_page(user_id: str, cursor: str | None, limit: int, **filters) -> RequestPage:
    """One page of the account's requests, newest first, keyset-paged on (created_at, id);
    ``filters`` are HistoryFilter's fields (since, until, key_id, model, …)."""
    after = decode_cursor(cursor) if cursor else None
    records = history_repo.history(user_id, HistoryFilter(**filters), after, limit + 1)
    page, more = records[:limit], len(records) > limit
    last = page[-1] if page else None
    next_cursor = encode_cursor(Position(last.created_at, last.request_id)) if more else None
    return RequestPage(page, next_cursor)


def _day(moment: datetime, name: str) -> date:
    if moment.timetz().replace(tzinfo=None) != time():
        raise InvalidRequest(f"{name}: costs are kept per UTC day; give a date (YYYY-MM-DD) "
                             "or midnight UTC.", field=name)
    return moment.date()


def cost_report(user_id: str, tier: str, since: datetime | None, until: datetime | None,
                interval: str, group_by: str | None) -> CostReport:
    """Totals and a zero-filled series over [since, until) from the per-day aggregates.

    Without ``since``: the last 30 days, or this month for a tier without analytics.
    """
    today = utcnow().date()
    end = _day(until, "until") if until else today + timedelta(days=1)
    if since:
        start = _day(since, "since")
    elif TIERS[tier].analytics:
        start = end - timedelta(days=DEFAULT_RANGE_DAYS)
    else:
        start = month_start(today)
    _basic_range(tier, start, group_by, today)
    if start >= end:
        raise InvalidRequest("since must be before until.", field="since")
    if (end - start).days > MAX_RANGE_DAYS or len(periods(start, end, interval)) > MAX_PERIODS:
        raise InvalidRequest(f"The range is too long: at most {MAX_PERIODS} periods and "
                             f"{MAX_RANGE_DAYS} days; use a longer interval.", field="since")
    series = build_series(costs_repo.daily(user_id, start, end, group_by), start, end, interval)
    return CostReport(start, end, interval, group_by, grand_total(series), series)


def ranked_groups(period: Period) -> list[tuple[str, CostTotals]]:
    """A period's groups, most expensive first (ties by name)."""
    return sorted(period.groups.items(), key=lambda item: (-item[1].cost_microcents, item[0]))
