"""The loops section: agent loops the gateway detected and refused in the period."""
from __future__ import annotations

from app.compliance.reports.model import Figure, Scope, Section, Table
from app.gateway.loops.events import events_between, patterns_between

LISTED = 200  # loop events listed one by one at most
PATTERNS = (("repeat", "Same request repeated"), ("near_duplicate", "Near-duplicate requests"),
            ("cycle", "Requests in a cycle"))


def loops_blocked(scope: Scope) -> Section:
    counts = patterns_between(scope.user_id, scope.since, scope.until)
    total = sum(counts.values())
    figures = [Figure("loop_events", "Loops detected and refused", total),
               *(Figure(pattern, label, counts.get(pattern, 0)) for pattern, label in PATTERNS)]
    if total == 0:
        return Section("loops_blocked", "Loops blocked", "No loops detected in this period.", True, figures)
    events = events_between(scope.user_id, scope.since, scope.until, LISTED)
    table = Table("Loop events", ["Detected at (UTC)", "Key", "Pattern", "Requests in the loop"],
                  [[e.created_at.isoformat(timespec="seconds"), e.key_id, e.pattern, e.count]
                   for e in events],
                  note=f"The first {LISTED} of {total}." if total > LISTED else None)
    return Section("loops_blocked", "Loops blocked",
                   f"{total} loop(s) detected; the gateway refused each looping request with "
                   "429 loop_detected.", False, figures, [table])
