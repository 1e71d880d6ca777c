"""The overview, Loops and Budgets pages."""
from __future__ import annotations

from datetime import UTC, datetime, time

from flask import flash, redirect, request, url_for

from app.analytics.service import cost_report, month_start
from app.api.budgets import PutBudgetSchema
from app.dashboard.blueprint import bp, me, page, signed_in
from app.dashboard.forms import integers, load
from app.dashboard.usage import eur, usage_charts
from app.dashboard.usage_counts import key_names, month_usage
from app.errors import EXPECTED_ERRORS, api_error
from app.gateway.budgets import account_budgets, set_budget
from app.gateway.loops.events import recent_events
from app.identity.api_keys import live_keys
from storage.ids import utcnow

OVERVIEW_LOOPS = 5  # latest loop events on the overview


@bp.route("/dashboard")
@signed_in
def overview():
    user = me()
    keys = live_keys(user.id)
    usage = month_usage(user.id, user.tier, keys)
    first = datetime.combine(month_start(utcnow().date()), time(), UTC)
    spend = cost_report(user.id, user.tier, first, None, "day", None)
    loops = recent_events(user.id, OVERVIEW_LOOPS)
    return page("overview.html", title="Overview", user=user, usage=usage, keys=keys,
                spend=spend, spend_chart=usage_charts(spend, {})["cost"], loops=loops, eur=eur,
                base_url=request.url_root.rstrip("/") + "/v1")


@bp.route("/dashboard/loops")
@signed_in
def loops():
    user = me()
    names = key_names(live_keys(user.id))
    events = recent_events(user.id)
    return page("loops.html", title="Loops", events=events, key_names=names)


def _budgets_page(status: int = 200, **context):
    user = me()
    month, budgets = account_budgets(user.id)
    keys = live_keys(user.id)
    names = key_names(keys)
    return page("budgets.html", status, title="Budgets", month=month, budgets=budgets, keys=keys,
                key_names=names, form=request.form, eur=eur, **context)


@bp.route("/dashboard/budgets")
@signed_in
def budgets():
    return _budgets_page()


@bp.route("/dashboard/budgets", methods=["POST"])
@signed_in
def save_budget():
    form = request.form
    removing = form.get("action") == "remove"
    try:
        data = {"key_id": form.get("key_id") or None}
        if removing:
            data["monthly_eur"] = None
        elif "thresholds" in form and form["thresholds"].strip():
            data["thresholds"] = integers(form["thresholds"], "thresholds")
        data["hard_stop"] = form.get("hard_stop") == "on"
        body = load(PutBudgetSchema(), {} if removing else {"monthly_eur": form.get("monthly_eur", "")},
                    data=data)
        set_budget(me().id, body["key_id"], body["monthly_eur"], body["thresholds"],
                   body["hard_stop"])
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        return _budgets_page(exc.status, error=exc.message)
    flash("Budget removed." if removing else "Budget saved.")
    return redirect(url_for("dashboard.budgets"))
