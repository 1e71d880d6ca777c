"""The high-risk decisions repository: assessments, reviews, violations and approved models."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import peewee

from storage.ids import utcnow
from storage.log_models import LogEntry
from storage.models import database_proxy
from storage.risk_models import ComplianceViolation, HealthcareSettings, ReceiptReview, RiskAssessment
from storage.transparency_log import EntryRecord, entry_record


@dataclass(frozen=True)
class Assessment:
    receipt_id: str
    amendment_id: str
    user_id: str
    key_id: str
    request_id: str
    model: str
    level: str
    score: str
    categories: list[str]
    decided_at: datetime
    assessed_at: datetime


@dataclass(frozen=True)
class Review:
    id: str
    receipt_id: str
    user_id: str
    reviewer: str
    outcome: str
    created_at: datetime


@dataclass(frozen=True)
class Violation:
    id: str
    user_id: str
    receipt_id: str
    framework: str
    rule: str
    severity: str
    created_at: datetime


def _assessment(row: RiskAssessment) -> Assessment:
    return Assessment(row.receipt_id, row.amendment_id, row.user_id, row.key_id, row.request_id,
                      row.model, row.level, row.score,
                      [c for c in row.categories.split(",") if c], row.decided_at, row.assessed_at)


def _violation(v: ComplianceViolation) -> Violation:
    return Violation(v.id, v.user_id, v.receipt_id, v.framework, v.rule, v.severity, v.created_at)


def add_assessment(a: Assessment) -> bool:
    """Index an assessment; False when the receipt already has one (another worker's)."""
    inserted = (RiskAssessment.insert(
        receipt_id=a.receipt_id, amendment_id=a.amendment_id, user_id=a.user_id, key_id=a.key_id,
        request_id=a.request_id, model=a.model, level=a.level, score=a.score,
        categories=",".join(a.categories), decided_at=a.decided_at, assessed_at=a.assessed_at)
        .on_conflict_ignore().as_rowcount().execute())
    return inserted == 1


def assessment(user_id: str, receipt_id: str) -> Assessment | None:
    row = RiskAssessment.get_or_none((RiskAssessment.receipt_id == receipt_id)
                                     & (RiskAssessment.user_id == user_id))
    return _assessment(row) if row else None


def add_review(r: Review) -> None:
    ReceiptReview.insert(id=r.id, receipt_id=r.receipt_id, user_id=r.user_id, reviewer=r.reviewer,
                         outcome=r.outcome, created_at=r.created_at).execute()


def reviews(user_id: str, receipt_id: str) -> list[Review]:
    query = (ReceiptReview.select().where((ReceiptReview.receipt_id == receipt_id)
                                          & (ReceiptReview.user_id == user_id))
             .order_by(ReceiptReview.created_at, ReceiptReview.id))
    return [Review(r.id, r.receipt_id, r.user_id, r.reviewer, r.outcome, r.created_at) for r in query]


def amendments(user_id: str, receipt_id: str) -> list[EntryRecord]:
    """The log entries amending a receipt (its assessment, then its reviews), oldest first."""
    ids = [a.amendment_id for a in RiskAssessment.select(RiskAssessment.amendment_id).where(
        (RiskAssessment.receipt_id == receipt_id) & (RiskAssessment.user_id == user_id))]
    ids += [r.id for r in reviews(user_id, receipt_id)]
    if not ids:
        return []
    rows = LogEntry.select().where(LogEntry.id.in_(ids)).order_by(LogEntry.queued_at, LogEntry.id)
    return [entry_record(row) for row in rows]


def unreviewed_high(decided_before: datetime, rule: str, limit: int) -> list[Assessment]:
    """High-risk assessments of answers older than ``decided_before`` that no clinician
    reviewed and that have no violation of ``rule`` yet."""
    reviewed = ReceiptReview.select(ReceiptReview.id).where(
        ReceiptReview.receipt_id == RiskAssessment.receipt_id)
    violated = ComplianceViolation.select(ComplianceViolation.id).where(
        (ComplianceViolation.receipt_id == RiskAssessment.receipt_id) & (ComplianceViolation.rule == rule))
    query = (RiskAssessment.select()
             .where((RiskAssessment.level == "high") & (RiskAssessment.decided_at < decided_before)
                    & ~peewee.fn.EXISTS(reviewed) & ~peewee.fn.EXISTS(violated))
             .order_by(RiskAssessment.decided_at).limit(limit))
    return [_assessment(row) for row in query]


def add_violation(v: Violation) -> bool:
    """Record a violation; False when this receipt already broke this rule (raised once)."""
    inserted = (ComplianceViolation.insert(
        id=v.id, user_id=v.user_id, receipt_id=v.receipt_id, framework=v.framework, rule=v.rule,
        severity=v.severity, created_at=v.created_at).on_conflict_ignore().as_rowcount().execute())
    return inserted == 1


def violations(user_id: str, receipt_id: str) -> list[Violation]:
    query = (ComplianceViolation.select().where((ComplianceViolation.receipt_id == receipt_id)
                                                & (ComplianceViolation.user_id == user_id))
             .order_by(ComplianceViolation.created_at))
    return [_violation(v) for v in query]


def approved_models(user_id: str) -> list[str]:
    """The models the account approved for high-risk use; empty: none restricted."""
    row = HealthcareSettings.get_or_none(HealthcareSettings.user_id == user_id)
    return json.loads(row.high_risk_models) if row else []


def set_approved_models(user_id: str, models: list[str]) -> None:
    now, listed = utcnow(), json.dumps(models)
    target = {} if isinstance(database_proxy.obj, peewee.MySQLDatabase) else {
        "conflict_target": [HealthcareSettings.user_id]}  # MySQL takes no target
    (HealthcareSettings.insert(user_id=user_id, high_risk_models=listed, updated_at=now)
     .on_conflict(update={HealthcareSettings.high_risk_models: listed,
                          HealthcareSettings.updated_at: now}, **target)
     .execute())


@dataclass(frozen=True)
class Overseen:
    """A high-risk decision and the outcome of its latest review (None: not reviewed)."""

    assessment: Assessment
    outcome: str | None


def level_counts(user_id: str, since: datetime, until: datetime) -> dict[str, int]:
    """Answers decided in [since, until) that were assessed, per risk level."""
    query = (RiskAssessment.select(RiskAssessment.level, peewee.fn.COUNT(RiskAssessment.receipt_id))
             .where((RiskAssessment.user_id == user_id) & (RiskAssessment.decided_at >= since)
                    & (RiskAssessment.decided_at < until))
             .group_by(RiskAssessment.level).tuples())
    return dict(query)


def _high_between(user_id: str, since: datetime, until: datetime):
    return ((RiskAssessment.user_id == user_id) & (RiskAssessment.level == "high")
            & (RiskAssessment.decided_at >= since) & (RiskAssessment.decided_at < until))


def high_between(user_id: str, since: datetime, until: datetime) -> list[Overseen]:
    """The high-risk decisions of [since, until), oldest first, each with its latest review."""
    decisions = [_assessment(row) for row in RiskAssessment.select()
                 .where(_high_between(user_id, since, until))
                 .order_by(RiskAssessment.decided_at, RiskAssessment.receipt_id)]
    latest: dict[str, str] = {}
    reviewed = (ReceiptReview.select(ReceiptReview.receipt_id, ReceiptReview.outcome)
                .join(RiskAssessment, on=(RiskAssessment.receipt_id == ReceiptReview.receipt_id))
                .where(_high_between(user_id, since, until) & (ReceiptReview.user_id == user_id))
                .order_by(ReceiptReview.created_at, ReceiptReview.id).tuples())
    for receipt_id, outcome in reviewed:
        latest[receipt_id] = outcome  # the last one read is the latest
    return [Overseen(a, latest.get(a.receipt_id)) for a in decisions]


def open_violations(user_id: str, since: datetime, until: datetime) -> list[Violation]:
    """The violations of decisions made in [since, until) that no review has answered since
    they were raised, oldest first."""
    answered = ReceiptReview.select(ReceiptReview.id).where(
        (ReceiptReview.receipt_id == ComplianceViolation.receipt_id)
        & (ReceiptReview.created_at >= ComplianceViolation.created_at))
    query = (ComplianceViolation.select()
             .join(RiskAssessment, on=(RiskAssessment.receipt_id == ComplianceViolation.receipt_id))
             .where((ComplianceViolation.user_id == user_id) & (RiskAssessment.decided_at >= since)
                    & (RiskAssessment.decided_at < until) & ~peewee.fn.EXISTS(answered))
             .order_by(ComplianceViolation.created_at, ComplianceViolation.id))
    return [_violation(v) for v in query]


def violation_count(user_id: str, since: datetime, until: datetime) -> int:
    """Violations raised for decisions made in [since, until), answered or not."""
    return (ComplianceViolation.select()
            .join(RiskAssessment, on=(RiskAssessment.receipt_id == ComplianceViolation.receipt_id))
            .where((ComplianceViolation.user_id == user_id) & (RiskAssessment.decided_at >= since)
                   & (RiskAssessment.decided_at < until)).count())
