"""Monthly quota counters in the database, for the embedded mode (no Redis).

One conditional UPDATE per scope, inside one transaction, admits a request only
while both the key and the account are under their quotas: exact across
processes sharing the database, and durable across restarts.
"""
from __future__ import annotations

import peewee

from storage.models import QuotaCounter, database_proxy


def _ensure_rows(scopes: list[str], period: str) -> None:
    for scope in scopes:
        try:
            with database_proxy.atomic():
                QuotaCounter.insert(scope=scope, period=period, used=0).on_conflict_ignore().execute()
        except peewee.IntegrityError:
            pass


def reserve(limits: dict[str, int], period: str) -> tuple[str | None, list[int]]:
    """Count one request against every scope.

    Returns the first scope at its limit (nothing counted), or None and each scope's
    count including this request, read in the same transaction.
    """
    _ensure_rows(list(limits), period)
    with database_proxy.atomic() as transaction:
        for scope, limit in limits.items():
            updated = (QuotaCounter.update(used=QuotaCounter.used + 1)
                       .where((QuotaCounter.scope == scope) & (QuotaCounter.period == period)
                              & (QuotaCounter.used < limit))
                       .execute())
            if not updated:
                transaction.rollback()
                return scope, []
        return None, [used(scope, period) for scope in limits]


def release(scopes: list[str], period: str) -> None:
    """Give back one request to every scope (a refused or failed request)."""
    with database_proxy.atomic():
        for scope in scopes:
            (QuotaCounter.update(used=QuotaCounter.used - 1)
             .where((QuotaCounter.scope == scope) & (QuotaCounter.period == period)
                    & (QuotaCounter.used > 0))
             .execute())


def used(scope: str, period: str) -> int:
    row = QuotaCounter.get_or_none((QuotaCounter.scope == scope) & (QuotaCounter.period == period))
    return row.used if row else 0
