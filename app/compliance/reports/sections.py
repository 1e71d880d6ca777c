"""The report's sections, in order, and the report built from them.

A section is a function of the scope (account, tier, period) returning a ``Section``;
adding one is adding its builder here and its provisions in ``provisions.EVIDENCE``.
"""
from __future__ import annotations

from collections.abc import Callable

from app.compliance.reports.audit_trail import audit_trail
from app.compliance.reports.bias import bias_findings
from app.compliance.reports.high_risk import high_risk_decisions
from app.compliance.reports.log_integrity import receipts_and_log
from app.compliance.reports.loops import loops_blocked
from app.compliance.reports.model import Report, Scope, Section
from app.compliance.reports.provisions import EVIDENCE, coverage
from app.compliance.reports.usage import usage_and_cost
from storage.ids import utcnow

SectionBuilder = Callable[[Scope], Section]

SECTIONS: list[SectionBuilder] = [
    usage_and_cost,
    receipts_and_log,
    audit_trail,
    high_risk_decisions,
    bias_findings,
    loops_blocked,
]


def build_report(scope: Scope, builders: list[SectionBuilder] = SECTIONS) -> Report:
    sections = [build(scope) for build in builders]
    for section in sections:
        section.provisions = list(EVIDENCE.get(section.key, ()))
    titles = {section.key: section.title for section in sections}
    return Report(scope.user_id, scope.period, utcnow(), sections,
                  coverage([section.key for section in sections], titles))
