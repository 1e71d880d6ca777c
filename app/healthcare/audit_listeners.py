"""Audit events for changes other features announce rather than record: webhook endpoints.

``app.webhooks`` sits below this package (the log's checkpoints are sent as webhooks),
so it cannot call ``audit.record``; it sends ``endpoint_changed`` and this listens.
"""
from __future__ import annotations

from flask import Flask

from app.healthcare import audit
from app.webhooks.service import endpoint_changed

_ENDPOINT_ACTIONS = {"created": (audit.ENDPOINT_CREATED, audit.CREATE),
                     "updated": (audit.ENDPOINT_UPDATED, audit.UPDATE),
                     "deleted": (audit.ENDPOINT_DELETED, audit.DELETE),
                     "secret_rotated": (audit.ENDPOINT_SECRET_ROTATED, audit.UPDATE)}


def _record_endpoint_change(account_id: str, *, endpoint_id: str, change: str, fields: list[str]) -> None:
    action_type, code = _ENDPOINT_ACTIONS[change]
    audit.record(action_type, code, account_id=account_id, entity_type=audit.WEBHOOK_ENDPOINT,
                 entity_id=endpoint_id, detail={"fields": fields} if fields else None)


def init_app(app: Flask) -> None:
    """Listen (connecting the same receiver again, as every new app does, changes nothing)."""
    endpoint_changed.connect(_record_endpoint_change)
