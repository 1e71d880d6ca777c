"""The costs repository: per-day aggregates of the request log, kept exact and incremental.

How it stays exact and idempotent:

* ``storage.requests.insert_batch`` calls ``mark_dirty(records)`` in the
  transaction that inserts them: each (account, UTC day) partition touched gets
  a mark whose version is bumped.
* ``aggregate()`` recomputes each marked partition from its raw rows with one
  GROUP BY and replaces the partition's aggregate rows in one transaction, then
  deletes the mark only if its version is unchanged. Re-running adds nothing
  twice; a record arriving late for an old day re-marks that day.
* Money is integer micro-cents (EUR × 10^8, ``storage.money``) in the request
  log and in the aggregates, so every sum, raw or aggregated, is an integer sum
  in SQL: exact on SQLite, PostgreSQL and MySQL alike.
* ``seal(day)`` records that retention is about to delete raw rows before
  ``day``: partitions before it are final and never recomputed (their raw rows
  are gone, and recomputing would wipe the kept aggregates).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import peewee
from peewee import SQL, Case, fn

from storage.cost_models import CostDaily, CostDirty, CostState
from storage.database import is_sqlite, write_transaction
from storage.models import database_proxy
from storage.money import to_eur
from storage.records import RequestRecord
from storage.request_history import delete_before
from storage.request_models import RequestLogEntry

GROUP_COLUMNS = {"model": CostDaily.model, "provider": CostDaily.provider, "key": CostDaily.key_id}
_STATE_ID = 1


@dataclass(frozen=True)
class CostTotals:
    """Sums over some requests; money in micro-cents, exposed as exact Decimals."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_microcents: int = 0
    saved_microcents: int = 0
    cached: int = 0
    loop_blocks: int = 0
    errors: int = 0

    @property
    def cost_eur(self) -> Decimal:
        return to_eur(self.cost_microcents)

    @property
    def saved_eur(self) -> Decimal:
        return to_eur(self.saved_microcents)

    def __add__(self, other: CostTotals) -> CostTotals:
        return CostTotals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class DailyCost:
    day: date
    group: str | None  # the model, provider or key id when grouped
    totals: CostTotals


@dataclass(frozen=True)
class AggregationRun:
    recomputed: int  # partitions recomputed from raw rows
    sealed: int  # marks dropped because their day is sealed


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)




# -- marking ---------------------------------------------------------------------------------

def mark_dirty(records: Iterable[RequestRecord]) -> None:
    """Note the partitions ``records`` fall in; call it in the transaction that inserts them.

    One upsert bumps each partition's version, rows in a fixed order so that
    concurrent batches lock them in the same order (an INSERT IGNORE followed by
    an UPDATE would deadlock on MySQL, upgrading a shared lock).
    """
    partitions = sorted({(r.user_id, r.created_at.astimezone(UTC).date()) for r in records})
    if not partitions:
        return
    target = {} if isinstance(database_proxy.obj, peewee.MySQLDatabase) else {
        "conflict_target": [CostDirty.user_id, CostDirty.day]}  # MySQL takes no target
    (CostDirty.insert_many([{"user_id": u, "day": d, "version": 1} for u, d in partitions])
     .on_conflict(update={CostDirty.version: CostDirty.version + 1}, **target)
     .execute())


def pending() -> int:
    """How many partitions await aggregation."""
    return CostDirty.select().count()


# -- aggregation -----------------------------------------------------------------------------

def _count_if(condition) -> peewee.Node:
    return fn.SUM(Case(None, [(condition, 1)], 0))


def _recompute(user_id: str, day: date) -> list[dict]:
    """The partition's aggregate rows, from its raw rows."""
    log = RequestLogEntry
    query = (log.select(log.key_id, log.model, log.provider,
                        fn.COUNT(SQL("*")), fn.SUM(log.prompt_tokens), fn.SUM(log.completion_tokens),
                        fn.SUM(log.cost_microcents), fn.SUM(log.saved_microcents),
                        _count_if(log.cached == True),  # noqa: E712 (SQL, not Python)
                        _count_if((log.loop_detected == True) | (log.error_code == "loop_detected")),  # noqa: E712
                        _count_if(log.status == "error"))
             .where((log.user_id == user_id) & (log.created_at >= day_start(day))
                    & (log.created_at < day_start(day + timedelta(days=1))))
             .group_by(log.key_id, log.model, log.provider)
             .tuples())
    rows = []
    for key_id, model, provider, *sums in query:
        requests, prompt, completion, cost, saved, cached, loops, errors = sums
        rows.append({"user_id": user_id, "day": day, "key_id": key_id, "model": model,
                     "provider": provider, "requests": int(requests),
                     "prompt_tokens": int(prompt or 0), "completion_tokens": int(completion or 0),
                     "cost_microcents": int(cost or 0), "saved_microcents": int(saved or 0),
                     "cached": int(cached or 0), "loop_blocks": int(loops or 0),
                     "errors": int(errors or 0)})
    return rows


def _ensure_state() -> None:
    """Create the state row if missing, in its own transaction (never under another lock)."""
    if not CostState.select().where(CostState.id == _STATE_ID).exists():
        with database_proxy.atomic():
            CostState.insert(id=_STATE_ID, sealed_before=None).on_conflict_ignore().execute()


def _lock_state() -> date | None:
    """Lock the state row for this transaction and return the sealed day."""
    query = CostState.select().where(CostState.id == _STATE_ID)
    if not is_sqlite():  # SQLite's IMMEDIATE transaction already excludes other writers
        query = query.for_update()
    return query.get().sealed_before


def _aggregate_one(mark: CostDirty) -> bool:
    """Recompute one marked partition; False if its day is sealed (the mark is just dropped)."""
    with write_transaction():
        sealed_before = _lock_state()
        live = sealed_before is None or mark.day >= sealed_before
        if live:
            rows = _recompute(mark.user_id, mark.day)
            (CostDaily.delete()
             .where((CostDaily.user_id == mark.user_id) & (CostDaily.day == mark.day)).execute())
            if rows:
                CostDaily.insert_many(rows).execute()
        (CostDirty.delete()
         .where((CostDirty.user_id == mark.user_id) & (CostDirty.day == mark.day)
                & (CostDirty.version == mark.version)).execute())
    return live


def aggregate(before: date | None = None, user_id: str | None = None) -> AggregationRun:
    """Bring marked partitions up to date: all, or only days before ``before``, or one account's."""
    query = CostDirty.select().order_by(CostDirty.day, CostDirty.user_id)
    if before is not None:
        query = query.where(CostDirty.day < before)
    if user_id is not None:
        query = query.where(CostDirty.user_id == user_id)
    recomputed = sealed = 0
    _ensure_state()
    for mark in list(query):
        if _aggregate_one(mark):
            recomputed += 1
        else:
            sealed += 1
    return AggregationRun(recomputed, sealed)


def seal(before: date) -> date:
    """Make days before ``before`` final (never lowered); returns the sealed day now in force."""
    _ensure_state()
    with write_transaction():
        current = _lock_state()
        if current is None or before > current:
            CostState.update(sealed_before=before).where(CostState.id == _STATE_ID).execute()
            return before
        return current


def sealed_before() -> date | None:
    state = CostState.get_or_none(CostState.id == _STATE_ID)
    return state.sealed_before if state else None


@dataclass(frozen=True)
class RetentionRun:
    cutoff: datetime  # raw rows created before this were deleted
    deleted: int


def apply_retention(days: int, now: datetime | None = None) -> RetentionRun:
    """Delete raw request-log rows older than ``days`` whole UTC days, keeping every aggregate.

    The cutoff is a UTC midnight, so a day's raw rows go all at once. Pending
    partitions of those days are aggregated first, then the days are sealed (so
    no later run recomputes them from missing rows), then the rows are deleted.
    A record that arrives for a sealed day is not counted (it is already older
    than the retention period).
    """
    cutoff_day = (now or datetime.now(UTC)).astimezone(UTC).date() - timedelta(days=days)
    aggregate(before=cutoff_day)
    seal(cutoff_day)
    return RetentionRun(day_start(cutoff_day), delete_before(day_start(cutoff_day)))


# -- reading ---------------------------------------------------------------------------------

def daily(user_id: str, since: date, until: date, group_by: str | None = None) -> list[DailyCost]:
    """An account's totals per day in [since, until), per ``group_by`` column when given."""
    group = GROUP_COLUMNS[group_by] if group_by else None
    sums = [fn.SUM(getattr(CostDaily, f.name)) for f in fields(CostTotals)]
    columns = [CostDaily.day] + ([group] if group is not None else [])
    query = (CostDaily.select(*columns, *sums)
             .where((CostDaily.user_id == user_id) & (CostDaily.day >= since) & (CostDaily.day < until))
             .group_by(*columns)
             .order_by(*columns)
             .tuples())
    result = []
    for row in query:
        day, label = row[0], (row[1] if group is not None else None)
        values = row[len(columns):]
        result.append(DailyCost(_as_date(day), label, CostTotals(*(int(v or 0) for v in values))))
    return result


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):  # SQLite hands back the stored text when grouped
        return date.fromisoformat(value[:10])
    return value
