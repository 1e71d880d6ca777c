"""Analytics: the request history and costs of the caller's account (starter tier and above)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask_smorest import Blueprint

import storage.costs as costs_repo
import storage.request_history as history_repo
import storage.users as users_repo
from app.analytics.cost_series import build_series, grand_total, periods
from app.analytics.refresh import start_refresh
from app.api.analytics_schemas import (
    CostsQuerySchema,
    CostsSchema,
    RequestPageSchema,
    RequestsQuerySchema,
)
from app.api.cursors import decode_cursor, encode_cursor
from app.api.jobs import JobSchema
from app.api.schemas import AUTHENTICATED
from app.errors import InsufficientTier, InvalidRequest
from app.identity.authentication import current_principal, login_required
from app.tiers import TIERS
from storage.costs import CostTotals
from storage.ids import utcnow
from storage.request_history import HistoryFilter, Position

blp = Blueprint("analytics", __name__, url_prefix="/api/analytics",
                description="Request history and costs (starter tier and above)")

DEFAULT_RANGE_DAYS = 30  # the costs range when since is not given
MAX_RANGE_DAYS = 3660  # ten years
MAX_PERIODS = 1000  # points in one series


def analytics_account() -> str:
    """The caller's account id, if its tier includes analytics; InsufficientTier otherwise."""
    principal = current_principal()
    tier = principal.key.tier if principal.key else users_repo.get(principal.user_id).tier
    if not TIERS[tier].analytics:
        raise InsufficientTier(f"Analytics needs the starter tier or above; this account is on "
                               f"the {tier} tier.")
    return principal.user_id


@blp.route("/requests")
@blp.arguments(RequestsQuerySchema, location="query", as_kwargs=True)
@blp.response(200, RequestPageSchema)
@blp.alt_response(401, description="Not authenticated")
@blp.alt_response(403, description="insufficient_tier: the free tier has no analytics")
@blp.doc(security=AUTHENTICATED)
@login_required
def list_requests(limit: int, cursor: str | None = None, **filters):
    """The account's requests, newest first, a page at a time.

    Pagination is by keyset on (created_at, request_id): requests logged while
    you page appear before the first page, never as skips or repeats later.
    Raw records are kept for REQUEST_RETENTION_DAYS; costs cover all time.
    """
    user_id = analytics_account()
    after = decode_cursor(cursor) if cursor else None
    records = history_repo.history(user_id, HistoryFilter(**filters), after, limit + 1)
    page, more = records[:limit], len(records) > limit
    last = page[-1] if page else None
    next_cursor = encode_cursor(Position(last.created_at, last.request_id)) if more else None
    return {"data": page, "next_cursor": next_cursor}


def _day(moment: datetime, name: str) -> date:
    if moment.timetz().replace(tzinfo=None) != time():
        raise InvalidRequest(f"{name}: costs are kept per UTC day; give a date (YYYY-MM-DD) "
                             "or midnight UTC.", field=name)
    return moment.date()


def _totals(totals: CostTotals, **extra) -> dict:
    return {"cost_eur": totals.cost_eur, "saved_eur": totals.saved_eur, "requests": totals.requests,
            "prompt_tokens": totals.prompt_tokens, "completion_tokens": totals.completion_tokens,
            "cached": totals.cached, "loop_blocks": totals.loop_blocks, "errors": totals.errors,
            **extra}


@blp.route("/costs")
@blp.arguments(CostsQuerySchema, location="query", as_kwargs=True)
@blp.response(200, CostsSchema)
@blp.alt_response(400, description="invalid_request: a bad range, interval or group_by")
@blp.alt_response(401, description="Not authenticated")
@blp.alt_response(403, description="insufficient_tier: the free tier has no analytics")
@blp.doc(security=AUTHENTICATED)
@login_required
def costs(interval: str, since: datetime | None = None, until: datetime | None = None,
          group_by: str | None = None):
    """Cost totals and a series per day, week or month, optionally per model, provider or key.

    Served from per-day aggregates kept up to date every few seconds; money is
    EUR as exact decimal strings.
    """
    user_id = analytics_account()
    end = _day(until, "until") if until else utcnow().date() + timedelta(days=1)
    start = _day(since, "since") if since else end - timedelta(days=DEFAULT_RANGE_DAYS)
    if start >= end:
        raise InvalidRequest("since must be before until.", field="since")
    if (end - start).days > MAX_RANGE_DAYS or len(periods(start, end, interval)) > MAX_PERIODS:
        raise InvalidRequest(f"The range is too long: at most {MAX_PERIODS} periods and "
                             f"{MAX_RANGE_DAYS} days; use a longer interval.", field="since")
    daily = costs_repo.daily(user_id, start, end, group_by)
    series = build_series(daily, start, end, interval)
    points = []
    for period in series:
        extra = {"start": period.start, "end": period.end}
        if group_by:
            ranked = sorted(period.groups.items(), key=lambda item: (-item[1].cost_microcents, item[0]))
            extra["groups"] = [_totals(totals, group=name) for name, totals in ranked]
        points.append(_totals(period.totals, **extra))
    return {"currency": "EUR", "since": start, "until": end, "interval": interval, "group_by": group_by,
            "totals": _totals(grand_total(series)), "series": points}


@blp.route("/costs/refresh", methods=["POST"])
@blp.response(202, JobSchema, headers={"Location": {"description": "The job, to poll",
                                                      "schema": {"type": "string"}}})
@blp.alt_response(401, description="Not authenticated")
@blp.alt_response(403, description="insufficient_tier: the free tier has no analytics")
@blp.alt_response(409, description="too_many_jobs: 10 jobs of the account are unfinished")
@blp.doc(security=AUTHENTICATED)
@login_required
def refresh_costs():
    """Bring your cost aggregates up to date now, as a job to poll at /api/jobs/{id}.

    They are refreshed every few seconds anyway; once the job has succeeded,
    /costs counts every request that was in the request log when it ran.
    """
    user_id = analytics_account()
    job = start_refresh(user_id)
    return job, {"Location": f"/api/jobs/{job.id}"}
