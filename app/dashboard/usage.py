"""Usage: cost and request charts over a range, and the request history, for the account.

Both pages load their query with the JSON API's own schemas and call the same
analytics services, so filters, ranges and the free tier's limits match the API:
the free tier sees this month's costs, unsplit, and no request history.
"""
from __future__ import annotations

from decimal import Decimal

from flask import request

from app.analytics.cost_series import GROUP_BY, INTERVALS
from app.analytics.service import cost_report, ranked_groups, request_page, require_analytics
from app.api.analytics_schemas import CostsQuerySchema, RequestsQuerySchema
from app.dashboard.blueprint import bp, me, page, paging_args, signed_in
from app.dashboard.charts import bar_chart
from app.dashboard.forms import load
from app.dashboard.usage_counts import key_names, month_usage
from app.errors import EXPECTED_ERRORS, InsufficientTier, api_error
from app.identity.api_keys import live_keys
from app.tiers import TIERS

STATUSES = ("ok", "error", "cached", "client_disconnected")


def eur(value: Decimal) -> str:
    """EUR for people: cents when large, more places when tiny (never rounded to nothing)."""
    if value == 0:
        return "€0"
    places = 2 if abs(value) >= 1 else min(8, max(4, -value.adjusted() + 2))
    return f"€{value:,.{places}f}"


def count(value: Decimal) -> str:
    return f"{value:,.0f}"


def eur_axis(value: Decimal) -> str:
    """An axis label: exact, with no trailing zeros."""
    return "€0" if value == 0 else f"€{value.normalize():f}"


def month_day(day: str) -> str:
    """An ISO date on a chart's axis: MM-DD (the range says the year)."""
    return day[5:]


def _no_history_page(refusal: InsufficientTier):
    """The request history's place on a tier without it: the counts and an upgrade note."""
    user = me()
    usage = month_usage(user.id, user.tier, live_keys(user.id))
    return page("usage_free.html", title="Request history", usage=usage, note=refusal.message)


def _key_names() -> dict[str, str]:
    return key_names(live_keys(me().id))


@bp.route("/dashboard/usage")
@signed_in
def usage():
    user = me()
    error, status, report = None, 200, None
    try:
        query = load(CostsQuerySchema(), request.args)
        report = cost_report(user.id, user.tier, query.get("since"), query.get("until"),
                             query["interval"], query.get("group_by"))
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        error, status = exc.message, exc.status
    keys = live_keys(user.id)
    names = key_names(keys)
    tier = TIERS[user.tier]
    return page("usage.html", status, title="Usage", error=error, report=report,
                charts=usage_charts(report, names) if report else None, args=request.args,
                intervals=INTERVALS, group_columns=GROUP_BY, key_names=names,
                ranked_groups=ranked_groups, eur=eur, full=tier.analytics,
                usage=None if tier.analytics else month_usage(user.id, user.tier, keys))


def usage_charts(report, names: dict[str, str]) -> dict:
    """The cost and request charts of a cost report, split by its groups if any."""
    labels = [period.start.isoformat() for period in report.series]

    def split(measure):
        if report.group_by:
            return [{names.get(group, group): measure(totals)
                     for group, totals in period.groups.items()} for period in report.series]
        return [{"": measure(period.totals)} for period in report.series]

    return {"cost": bar_chart(labels, split(lambda t: t.cost_eur), eur_axis, short=month_day),
            "requests": bar_chart(labels, split(lambda t: Decimal(t.requests)), count, whole=True,
                                  short=month_day)}


@bp.route("/dashboard/usage/requests")
@signed_in
def requests_history():
    user = me()
    try:
        require_analytics(user.tier)
    except InsufficientTier as refusal:
        return _no_history_page(refusal)
    error, result = None, None
    try:
        query = load(RequestsQuerySchema(), request.args)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        result = request_page(user.id, cursor, limit, **query)
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        error = exc.message
    return page("requests.html", 400 if error else 200, title="Request history", error=error,
                result=result, args=request.args, next_args=paging_args(), key_names=_key_names(),
                statuses=STATUSES, eur=eur)
