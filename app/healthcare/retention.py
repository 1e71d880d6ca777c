"""Retention of receipts and audit events: content kept ``LOG_RETENTION_DAYS`` (six years by
default, HIPAA §164.316(b)(2)), then forgotten while the leaf's hash stays in the tree.

The request log's retention (``REQUEST_RETENTION_DAYS``) is another table and never
touches these. Each run is itself audited: every account that lost content gets one
``log.content_expired`` event saying how many of its receipts and events went.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from app.healthcare import audit
from app.healthcare.audit import Actor
from storage import log_retention
from storage.ids import utcnow


def expire(actor: Actor | None = None, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Forget the content of leaves older than the retention; per account, counts by leaf type."""
    settings = current_app.config["AQTA_SETTINGS"]
    before = (now or utcnow()) - timedelta(days=settings.log_retention_days)
    by_account: dict[str, dict[str, int]] = {}
    for (account_id, leaf_type), count in log_retention.forget_content(before).items():
        if account_id is not None:
            by_account.setdefault(account_id, {})[leaf_type] = count
    for account_id, counts in by_account.items():
        audit.record(audit.LOG_EXPIRED, audit.DELETE, account_id=account_id, entity_type=audit.LOG,
                     entity_id=settings.log_origin, actor=actor,
                     detail={"before": before.date().isoformat(), **counts})
    return by_account
