"""The audit trail section: who did what in the period, and every event proven unaltered.

The counts are over the events ``GET /api/compliance/audit-trail`` lists for the same
period; each event the latest checkpoint covers is proven against it and checked by the
same verifier as receipts (``log_integrity.verify_pages``), so an event altered, removed
or inserted afterwards shows as failing here.
"""
from __future__ import annotations

from collections import Counter

import storage.audit as audit_repo
import storage.transparency_log as log_repo
from app.compliance.reports.log_integrity import failures_table, verify_pages
from app.compliance.reports.model import Figure, Scope, Section, Table
from app.healthcare.leaves import AUDIT_EVENT
from app.healthcare.proven import proven_audit_pages
from app.healthcare.transparency import transparency_log
from storage.audit import AuditFilter

LISTED_ACTORS = 200  # actors listed one by one at most


def _ranked(counts: Counter) -> list[list]:
    return [[name, n] for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def audit_trail(scope: Scope) -> Section:
    rows = audit_repo.counts(scope.user_id, AuditFilter(since=scope.since, until=scope.until))
    by_action, by_actor = Counter(), Counter()
    for action_type, actor_id, n in rows:
        by_action[action_type] += n
        by_actor[actor_id] += n
    total = sum(by_action.values())
    tlog = transparency_log()
    latest = log_repo.latest_checkpoint()
    result = verify_pages(proven_audit_pages(scope.user_id, scope.since, scope.until, latest,
                                             tlog.inclusion_many), AUDIT_EVENT, tlog.verifiers(), tlog.origin)
    figures = [
        Figure("audit_events", "Audit events recorded", total),
        Figure("audit_actions", "Kinds of action", len(by_action)),
        Figure("audit_actors", "Actors (users, keys, operators, jobs)", len(by_actor)),
        Figure("audit_events_checked", "Audit events proven against the latest checkpoint", result.checked),
        Figure("audit_events_verified", "Audit events verified", result.verified),
        Figure("audit_events_failed", "Audit events failing verification", result.failed),
        Figure("audit_events_pending", "Audit events not yet in a checkpoint", total - result.checked),
    ]
    if total == 0:
        return Section("audit_trail", "Audit trail", "No audit events were recorded in this period.",
                       True, figures)
    actors = _ranked(by_actor)
    summary = (f"{total} audit events by {len(by_actor)} actor(s); {result.verified} of {total} verified "
               "against the latest checkpoint"
               + (f", {result.failed} FAILED verification" if result.failed else "") + ".")
    tables = [Table("Events by action", ["Action", "Events"], _ranked(by_action)),
              Table("Events by actor", ["Actor", "Events"], actors[:LISTED_ACTORS],
                    f"The first {LISTED_ACTORS} of {len(actors)}." if len(actors) > LISTED_ACTORS else None)]
    if result.failures:
        tables.append(failures_table("Audit events failing verification", "Event", result))
    return Section("audit_trail", "Audit trail", summary, False, figures, tables)
