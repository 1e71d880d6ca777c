"""The bias detection repository: runs and windows, their findings, probes and observations."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import peewee

from storage.bias_models import BiasFinding, BiasObservation, BiasProbe, BiasRun
from storage.errors import RecordNotFound
from storage.ids import new_id, utcnow
from storage.models import database_proxy

PROBE, MONITOR = "probe", "monitor"


class BiasRunNotFound(RecordNotFound):
    code = "bias_run_not_found"


@dataclass(frozen=True)
class NewFinding:
    attribute: str
    reference: str
    group: str
    kind: str
    test: str
    n: int
    rates: dict[str, float]
    effect_name: str
    effect: float
    interval: tuple[float, float]
    p: float
    q: float
    flagged: bool
    extra: dict | None


@dataclass(frozen=True)
class FindingRecord(NewFinding):
    id: str
    run_id: str
    created_at: datetime
    notified_at: datetime | None


@dataclass(frozen=True)
class RunRecord:
    id: str
    user_id: str
    source: str  # probe or monitor
    model: str | None
    job_id: str | None
    status: str
    settings: dict
    summary: dict | None
    window_start: datetime | None
    window_end: datetime | None
    created_at: datetime
    finished_at: datetime | None
    findings: list[FindingRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ProbeRecord:
    attribute: str
    group: str
    pair: int
    side: str  # reference or group
    template_id: str
    request_id: str
    receipt_id: str | None
    decision: str | None
    error_code: str | None


def _finding(row: BiasFinding) -> FindingRecord:
    return FindingRecord(
        attribute=row.attribute, reference=row.reference, group=row.group_name, kind=row.kind,
        test=row.test, n=row.n, rates=json.loads(row.rates), effect_name=row.effect_name,
        effect=row.effect, interval=(row.low, row.high), p=row.p, q=row.q, flagged=row.flagged,
        extra=json.loads(row.extra) if row.extra else None, id=row.id, run_id=row.run_id,
        created_at=row.created_at, notified_at=row.notified_at)


def _run(row: BiasRun, findings: list[FindingRecord] | None = None) -> RunRecord:
    return RunRecord(id=row.id, user_id=row.user_id, source=row.source, model=row.model,
                     job_id=row.job_id, status=row.status, settings=json.loads(row.settings),
                     summary=json.loads(row.summary) if row.summary else None,
                     window_start=row.window_start, window_end=row.window_end,
                     created_at=row.created_at, finished_at=row.finished_at,
                     findings=findings or [])


def create_probe_run(user_id: str, model: str, settings: dict, job_id: str) -> RunRecord:
    row = BiasRun.create(id=new_id("bias"), user=user_id, source=PROBE, model=model, job_id=job_id,
                         status="queued", settings=json.dumps(settings), created_at=utcnow())
    return _run(row)


def claim_window(user_id: str, start: datetime, end: datetime, settings: dict) -> RunRecord | None:
    """A new monitoring window of the account's; None if another run took it already."""
    try:
        with database_proxy.atomic():
            row = BiasRun.create(id=new_id("bias"), user=user_id, source=MONITOR, status="running",
                                 settings=json.dumps(settings), window_start=start, window_end=end,
                                 created_at=utcnow())
    except peewee.IntegrityError:
        return None
    return _run(row)


def last_window_end(user_id: str) -> datetime | None:
    row = (BiasRun.select(BiasRun.window_end)
           .where((BiasRun.user == user_id) & (BiasRun.source == MONITOR))
           .order_by(BiasRun.window_start.desc()).first())
    return row.window_end if row else None


def finish_run(run_id: str, status: str, summary: dict | None = None) -> None:
    BiasRun.update(status=status, summary=json.dumps(summary) if summary is not None else None,
                   finished_at=utcnow()).where(BiasRun.id == run_id).execute()


def mark_running(run_id: str) -> None:
    BiasRun.update(status="running").where((BiasRun.id == run_id)
                                           & (BiasRun.status == "queued")).execute()


def get_run(user_id: str, run_id: str) -> RunRecord:
    row = BiasRun.get_or_none((BiasRun.id == run_id) & (BiasRun.user == user_id))
    if row is None:
        raise BiasRunNotFound(f"No bias detection run {run_id}.")
    return _with_findings([row])[0]


def list_runs(user_id: str, limit: int, since: datetime | None = None,
              until: datetime | None = None, source: str | None = None) -> list[RunRecord]:
    """The account's runs and windows, newest first, each with its findings."""
    where = BiasRun.user == user_id
    if since is not None:
        where &= BiasRun.created_at >= since
    if until is not None:
        where &= BiasRun.created_at < until
    if source is not None:
        where &= BiasRun.source == source
    rows = list(BiasRun.select().where(where)
                .order_by(BiasRun.created_at.desc(), BiasRun.id.desc()).limit(limit))
    return _with_findings(rows)


def _with_findings(rows: list[BiasRun]) -> list[RunRecord]:
    by_run: dict[str, list[FindingRecord]] = {row.id: [] for row in rows}
    if rows:
        for finding in (BiasFinding.select().where(BiasFinding.run.in_(list(by_run)))
                        .order_by(BiasFinding.attribute, BiasFinding.group_name, BiasFinding.kind)):
            by_run[finding.run_id].append(_finding(finding))
    return [_run(row, by_run[row.id]) for row in rows]


def save_findings(run: RunRecord, findings: Iterable[NewFinding]) -> list[FindingRecord]:
    """Store a run's findings once: a run that has them already keeps its first ones (one
    finding per comparison, so a redelivered run's second attempt inserts nothing)."""
    now = utcnow()
    rows = [{"id": new_id("bfind"), "run": run.id, "user_id": run.user_id, "attribute": f.attribute,
             "reference": f.reference, "group_name": f.group, "kind": f.kind, "test": f.test,
             "n": f.n, "rates": json.dumps(f.rates), "effect_name": f.effect_name,
             "effect": f.effect, "low": f.interval[0], "high": f.interval[1], "p": f.p, "q": f.q,
             "flagged": f.flagged, "extra": json.dumps(f.extra) if f.extra is not None else None,
             "created_at": now} for f in findings]
    if rows and not BiasFinding.select().where(BiasFinding.run == run.id).exists():
        with database_proxy.atomic():
            BiasFinding.insert_many(rows).on_conflict_ignore().execute()
    return [_finding(row) for row in BiasFinding.select().where(BiasFinding.run == run.id)]


def previous_finding(run: RunRecord, finding: FindingRecord) -> FindingRecord | None:
    """The same comparison's finding in the account's latest earlier run of the same source
    (and, for probing, the same model)."""
    query = (BiasFinding.select().join(BiasRun)
             .where((BiasFinding.user_id == run.user_id) & (BiasRun.source == run.source)
                    & (BiasFinding.attribute == finding.attribute)
                    & (BiasFinding.group_name == finding.group) & (BiasFinding.kind == finding.kind)
                    & (BiasFinding.run != run.id) & (BiasRun.created_at <= run.created_at)))
    if run.model is not None:
        query = query.where(BiasRun.model == run.model)
    row = query.order_by(BiasRun.created_at.desc()).first()
    return _finding(row) if row else None


def claim_notification(finding_id: str) -> bool:
    """True exactly once per finding: the caller raises its webhook event."""
    return bool(BiasFinding.update(notified_at=utcnow())
                .where((BiasFinding.id == finding_id) & BiasFinding.notified_at.is_null())
                .execute())


def stored_probes(run_id: str) -> dict[tuple[str, str, int, str], ProbeRecord]:
    """The probes a run sent already (a redelivered job sends only the rest)."""
    return {(p.attribute, p.group_name, p.pair, p.side): ProbeRecord(
        p.attribute, p.group_name, p.pair, p.side, p.template_id, p.request_id, p.receipt_id,
        p.decision, p.error_code) for p in BiasProbe.select().where(BiasProbe.run == run_id)}


def add_probe(run_id: str, probe: ProbeRecord) -> None:
    BiasProbe.insert(run=run_id, attribute=probe.attribute, group_name=probe.group,
                     pair=probe.pair, side=probe.side, template_id=probe.template_id,
                     request_id=probe.request_id, receipt_id=probe.receipt_id,
                     decision=probe.decision, error_code=probe.error_code
                     ).on_conflict_ignore().execute()


@dataclass(frozen=True)
class Observation:
    request_id: str
    user_id: str
    attribute: str
    group: str
    decision: str
    created_at: datetime


def add_observations(observations: Iterable[Observation]) -> None:
    rows = [{"request_id": o.request_id, "user_id": o.user_id, "attribute": o.attribute,
             "group_name": o.group, "decision": o.decision, "created_at": o.created_at}
            for o in observations]
    if rows:
        BiasObservation.insert_many(rows).on_conflict_ignore().execute()


def forget_observations(before: datetime) -> int:
    """Delete observations older than ``before`` (their windows' findings stay)."""
    return BiasObservation.delete().where(BiasObservation.created_at < before).execute()


def observation_counts(user_id: str, start: datetime, end: datetime
                       ) -> list[tuple[str, str, str, int]]:
    """(attribute, group, decision, count) of the account's observations in [start, end)."""
    count = peewee.fn.COUNT(BiasObservation.request_id)
    query = (BiasObservation.select(BiasObservation.attribute, BiasObservation.group_name,
                                    BiasObservation.decision, count.alias("n"))
             .where((BiasObservation.user_id == user_id) & (BiasObservation.created_at >= start)
                    & (BiasObservation.created_at < end))
             .group_by(BiasObservation.attribute, BiasObservation.group_name,
                       BiasObservation.decision))
    return [(row.attribute, row.group_name, row.decision, row.n) for row in query]


def observing_accounts(before: datetime) -> list[tuple[str, datetime]]:
    """Accounts with observations before ``before``, each with its earliest one."""
    first = peewee.fn.MIN(BiasObservation.created_at)
    query = (BiasObservation.select(BiasObservation.user_id, first.alias("first"))
             .where(BiasObservation.created_at < before).group_by(BiasObservation.user_id))
    return [(row.user_id, BiasObservation.created_at.python_value(row.first)) for row in query]
