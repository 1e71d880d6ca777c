"""The usage and cost section: the period's requests, tokens and EUR, from the analytics service.

The figures are those ``GET /api/analytics/costs`` answers for the same days (the
same per-day aggregates through the same service).
"""
from __future__ import annotations

from app.analytics.service import cost_report, ranked_groups
from app.compliance.reports.model import Chart, Figure, Scope, Section, Table
from storage.costs import CostTotals

DAILY_UP_TO = 62  # days: longer periods are shown per month
TOTALS = (("requests", "Requests", "requests"), ("prompt_tokens", "Prompt tokens", "prompt_tokens"),
          ("completion_tokens", "Completion tokens", "completion_tokens"),
          ("total_eur", "Cost (EUR)", "cost_eur"), ("saved_eur", "Saved by the cache (EUR)", "saved_eur"),
          ("cached", "Answered from the cache", "cached"), ("loop_blocks", "Refused as loops", "loop_blocks"),
          ("errors", "Errors", "errors"))


def _by_model(scope: Scope) -> list[tuple[str, CostTotals]]:
    report = cost_report(scope.user_id, scope.tier, scope.since, scope.until, "month", "model")
    models: dict[str, CostTotals] = {}
    for period in report.series:
        for name, totals in ranked_groups(period):
            models[name] = models.get(name, CostTotals()) + totals
    return sorted(models.items(), key=lambda item: (-item[1].cost_microcents, item[0]))


def usage_and_cost(scope: Scope) -> Section:
    interval = "day" if scope.period.days <= DAILY_UP_TO else "month"
    report = cost_report(scope.user_id, scope.tier, scope.since, scope.until, interval, None)
    totals = report.totals
    section = Section("usage_and_cost", "Usage and cost",
                      f"{totals.requests} requests costing EUR {totals.cost_eur} in the period.",
                      empty=totals.requests == 0,
                      figures=[Figure(name, label, getattr(totals, attr)) for name, label, attr in TOTALS])
    if section.empty:
        section.summary = "No requests in this period."
        return section
    labels = [p.start.strftime("%m-%d" if interval == "day" else "%Y-%m") for p in report.series]
    section.charts = [
        Chart(f"Requests per {interval}", labels, [p.totals.requests for p in report.series]),
        Chart(f"Cost per {interval} (EUR)", labels, [float(p.totals.cost_eur) for p in report.series], "EUR"),
    ]
    section.tables = [
        Table(f"Per {interval}", [interval.capitalize(), "Requests", "Cost (EUR)", "Cached", "Errors"],
              [[p.start.isoformat(), p.totals.requests, p.totals.cost_eur, p.totals.cached, p.totals.errors]
               for p in report.series]),
        Table("Per model", ["Model", "Requests", "Cost (EUR)"],
              [[model, t.requests, t.cost_eur] for model, t in _by_model(scope)]),
    ]
    return section
