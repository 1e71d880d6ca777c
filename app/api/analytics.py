"""Analytics: the request history and costs of the caller's account.

The history, refreshes and costs of any range or split need the starter tier or
above; every tier reads its own costs this month (app.analytics.service holds the rule).
"""
from __future__ import annotations

from datetime import datetime

from flask_smorest import Blueprint

import storage.users as users_repo
from app.analytics.refresh import start_refresh
from app.analytics.service import cost_report, ranked_groups, request_page, require_analytics
from app.api.analytics_schemas import CostsQuerySchema, CostsSchema, RequestPageSchema, RequestsQuerySchema
from app.api.jobs import JobSchema
from app.api.schemas import AUTHENTICATED, RETRY_AFTER, ErrorSchema
from app.identity.authentication import current_principal, login_required
from storage.costs import CostTotals

blp = Blueprint("analytics", __name__, url_prefix="/api/analytics",
                description="Request history (starter tier and above) and costs (this month's "
                            "for the free tier)")


def caller_tier() -> str:
    """The tier of the caller's key, or of its account when signed in with a session."""
    principal = current_principal()
    return principal.key.tier if principal.key else users_repo.get(principal.user_id).tier


def analytics_account() -> str:
    """The caller's account id, if its tier includes analytics; InsufficientTier otherwise."""
    require_analytics(caller_tier())
    return current_principal().user_id


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
    page = request_page(analytics_account(), cursor, limit, **filters)
    return {"data": page.data, "next_cursor": page.next_cursor}


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
@blp.alt_response(403, description="insufficient_tier: the free tier sees this month's costs, "
                                    "not split")
@blp.doc(security=AUTHENTICATED)
@login_required
def costs(interval: str, since: datetime | None = None, until: datetime | None = None,
          group_by: str | None = None):
    """Cost totals and a series per day, week or month, optionally per model, provider or key.

    Served from per-day aggregates kept up to date every few seconds; money is
    EUR as exact decimal strings. The free tier sees this month's costs (the default
    range for it), not split by group_by; earlier days need the starter tier or above.
    """
    report = cost_report(current_principal().user_id, caller_tier(), since, until, interval,
                         group_by)
    points = []
    for period in report.series:
        extra = {"start": period.start, "end": period.end}
        if group_by:
            extra["groups"] = [_totals(totals, group=name) for name, totals in ranked_groups(period)]
        points.append(_totals(period.totals, **extra))
    return {"currency": "EUR", "since": report.since, "until": report.until, "interval": interval,
            "group_by": group_by, "totals": _totals(report.totals), "series": points}


@blp.route("/costs/refresh", methods=["POST"])
@blp.response(202, JobSchema, headers={"Location": {"description": "The job, to poll",
                                                      "schema": {"type": "string"}}})
@blp.alt_response(401, description="Not authenticated")
@blp.alt_response(403, description="insufficient_tier: the free tier has no analytics")
@blp.alt_response(503, schema=ErrorSchema, headers=RETRY_AFTER,
                  description="job_queue_unavailable: the job queue (Redis) is down; nothing was queued")
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
