"""The high-risk decisions section: the period's risky answers, who reviewed them, what is still open.

A decision belongs to the period its answer was given in. Its review status is its latest
review's outcome (approved, amended, rejected) or "awaiting review". A violation (EU AI Act
Art. 14: not reviewed in the window; Art. 26: a model not approved for high-risk use) is
open until a clinician reviews the decision after it was raised.
"""
from __future__ import annotations

from collections import Counter

import storage.risk as risk_repo
from app.compliance.reports.model import Figure, Scope, Section, Table
from app.healthcare.risk.oversight import OUTCOMES

LISTED = 200  # decisions awaiting review, and open violations, listed one by one at most
LEVELS = (("high", "High-risk decisions"), ("medium", "Medium-risk answers"), ("low", "Low-risk answers"))


def _stamp(moment) -> str:
    return moment.isoformat(timespec="seconds")


def _note(total: int) -> str | None:
    return f"The first {LISTED} of {total}." if total > LISTED else None


def high_risk_decisions(scope: Scope) -> Section:
    levels = risk_repo.level_counts(scope.user_id, scope.since, scope.until)
    decisions = risk_repo.high_between(scope.user_id, scope.since, scope.until)
    outcomes = Counter(d.outcome for d in decisions)
    waiting = [d.assessment for d in decisions if d.outcome is None]
    violations = risk_repo.open_violations(scope.user_id, scope.since, scope.until)
    raised = risk_repo.violation_count(scope.user_id, scope.since, scope.until)
    figures = [
        Figure("answers_assessed", "Answers assessed for risk", sum(levels.values())),
        *(Figure(f"{level}_risk", label, levels.get(level, 0)) for level, label in LEVELS),
        Figure("reviewed", "High-risk decisions reviewed", len(decisions) - len(waiting)),
        *(Figure(outcome, f"Latest review: {outcome}", outcomes[outcome]) for outcome in OUTCOMES),
        Figure("awaiting_review", "High-risk decisions awaiting review", len(waiting)),
        Figure("violations", "Violations raised for the period's decisions", raised),
        Figure("open_violations", "Violations open (no review since)", len(violations)),
    ]
    if not levels:
        return Section("high_risk_decisions", "High-risk decisions and human oversight",
                       "No answers were assessed for risk in this period.", True, figures)
    summary = (f"{len(decisions)} high-risk decision(s): {len(decisions) - len(waiting)} reviewed, "
               f"{len(waiting)} awaiting review; {len(violations)} open violation(s).")
    categories = Counter(c for d in decisions for c in d.assessment.categories)
    tables = []
    if categories:
        tables.append(Table("High-risk decisions by category", ["Category", "Decisions"],
                            [[c, n] for c, n in sorted(categories.items(), key=lambda i: (-i[1], i[0]))]))
    if waiting:
        tables.append(Table("Awaiting review", ["Decided at (UTC)", "Receipt", "Model", "Categories"],
                            [[_stamp(a.decided_at), a.receipt_id, a.model, ", ".join(a.categories)]
                             for a in waiting[:LISTED]], _note(len(waiting))))
    if violations:
        tables.append(Table("Open violations",
                            ["Raised at (UTC)", "Receipt", "Framework", "Rule", "Severity"],
                            [[_stamp(v.created_at), v.receipt_id, v.framework, v.rule, v.severity]
                             for v in violations[:LISTED]], _note(len(violations))))
    return Section("high_risk_decisions", "High-risk decisions and human oversight", summary, False,
                   figures, tables)
