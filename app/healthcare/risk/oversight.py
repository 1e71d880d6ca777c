"""Human oversight of high-risk decisions: clinicians' reviews, approved models, violations.

A review is an ``amendment`` leaf referencing the receipt, like the assessment. Its
note is the clinician's free text and may name the patient, so the leaf and the table
keep only its HMAC commitment under the account's key (the same keys as the receipts'
commitments): whoever holds the note can show it is the one reviewed, and nothing else
can be read from it.

A high-risk decision breaks the EU AI Act's human-oversight rule (Art. 14) when no
review comes within ``REVIEW_WINDOW_SECONDS`` of the answer, and its deployer duty to
use a system as instructed (Art. 26) when it was answered by a model outside the
account's approved list (``PUT /api/health/settings``; an empty list approves every
model). Each raises one ``compliance.violation``: a violation row is unique per
receipt and rule, and only the run that inserts it sends the event.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

import storage.risk as risk_repo
from app.errors import InvalidRequest
from app.healthcare import audit, commitments
from app.healthcare.append import append
from app.healthcare.leaves import AMENDMENT, LEAF_VERSION, timestamp
from app.healthcare.receipts import issuer
from app.healthcare.service import stored_receipt
from app.webhooks import service as webhooks
from app.webhooks.events import COMPLIANCE_VIOLATION
from storage.ids import new_id, utcnow
from storage.risk import Assessment, Review, Violation

REVIEW = "review"  # the amendment's kind
OUTCOMES = ("approved", "amended", "rejected")
NOTE_LABEL = b"review note\x00"
EU_AI_ACT = "eu_ai_act"
HUMAN_OVERSIGHT = "art_14_human_oversight"
APPROVED_MODEL = "art_26_use_as_instructed"
OVERDUE_BATCH = 500  # overdue decisions handled per query
MAX_APPROVED_MODELS = 100


@dataclass(frozen=True)
class Rule:
    framework: str
    rule: str
    severity: str
    message: str


UNREVIEWED = Rule(EU_AI_ACT, HUMAN_OVERSIGHT, "high",
                  "A high-risk decision was not reviewed by a clinician within the review window.")
UNAPPROVED_MODEL = Rule(EU_AI_ACT, APPROVED_MODEL, "high",
                        "A high-risk decision was answered by a model the account has not approved "
                        "for high-risk use.")


def note_commitment(account_id: str, note: str) -> str:
    return commitments.commit(issuer().account_key(account_id), NOTE_LABEL, note.encode())


def review(user_id: str, receipt_id: str, reviewer: str, outcome: str, note: str | None) -> dict:
    """Record a clinician's review of one of the account's receipts; the amendment leaf."""
    if outcome not in OUTCOMES:
        raise InvalidRequest(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    stored_receipt(user_id, receipt_id)  # another account's receipt: not found
    now = utcnow()
    leaf = {"leaf_type": AMENDMENT, "v": LEAF_VERSION, "id": new_id("amd"), "kind": REVIEW,
            "receipt_id": receipt_id, "account_id": user_id, "created_at": timestamp(now),
            "review": {"reviewer": reviewer, "outcome": outcome}}
    if note:
        leaf["review"]["note_commitment"] = note_commitment(user_id, note)
    append(leaf, also=lambda: risk_repo.add_review(
        Review(leaf["id"], receipt_id, user_id, reviewer, outcome, now)))
    audit.record(audit.RECEIPT_REVIEWED, audit.UPDATE, account_id=user_id, entity_type=audit.RECEIPT,
                 entity_id=receipt_id, detail={"outcome": outcome, "amendment_id": leaf["id"]})
    return leaf


def raise_violation(assessment: Assessment, rule: Rule) -> bool:
    """Record ``rule`` broken by the assessed decision and send its event, once; False if it
    was raised already."""
    violation = Violation(new_id("vio"), assessment.user_id, assessment.receipt_id, rule.framework,
                          rule.rule, rule.severity, utcnow())
    if not risk_repo.add_violation(violation):
        return False
    webhooks.emit(COMPLIANCE_VIOLATION, assessment.user_id, {
        "framework": rule.framework, "rule": rule.rule, "severity": rule.severity,
        "message": rule.message, "request_id": assessment.request_id,
        "receipt_id": assessment.receipt_id, "key_id": assessment.key_id})
    return True


def check_approved_model(assessment: Assessment) -> bool:
    """A high-risk decision by a model outside the account's approved list is a violation."""
    approved = risk_repo.approved_models(assessment.user_id)
    if not approved or assessment.model in approved:
        return False
    return raise_violation(assessment, UNAPPROVED_MODEL)


def check_overdue(now: datetime | None = None) -> int:
    """Raise a violation for every high-risk decision left unreviewed past the window; how many."""
    window = timedelta(seconds=current_app.config["AQTA_SETTINGS"].review_window_seconds)
    cutoff = (now or utcnow()) - window
    raised = 0
    while True:
        overdue = risk_repo.unreviewed_high(cutoff, HUMAN_OVERSIGHT, OVERDUE_BATCH)
        raised += sum(raise_violation(a, UNREVIEWED) for a in overdue)
        if len(overdue) < OVERDUE_BATCH:
            return raised


def approved_models(user_id: str) -> list[str]:
    return risk_repo.approved_models(user_id)


def set_approved_models(user_id: str, models: list[str]) -> list[str]:
    cleaned = sorted({m.strip() for m in models if m.strip()})
    if len(cleaned) > MAX_APPROVED_MODELS:
        raise InvalidRequest(f"at most {MAX_APPROVED_MODELS} models", field="high_risk_models")
    risk_repo.set_approved_models(user_id, cleaned)
    audit.record(audit.HEALTHCARE_SETTINGS_CHANGED, audit.UPDATE, account_id=user_id,
                 entity_type=audit.ACCOUNT, entity_id=user_id, detail={"approved_models": len(cleaned)})
    return cleaned


def oversight_of(user_id: str, receipt_id: str) -> dict:
    """The receipt's risk, reviews and violations, for the receipt's page and route."""
    assessed = risk_repo.assessment(user_id, receipt_id)
    reviews = risk_repo.reviews(user_id, receipt_id)
    return {
        "risk": None if assessed is None else {
            "level": assessed.level, "score": assessed.score, "categories": assessed.categories,
            "assessed_at": assessed.assessed_at},
        "reviews": [{"id": r.id, "reviewer": r.reviewer, "outcome": r.outcome, "created_at": r.created_at}
                    for r in reviews],
        "violations": [_with_status(v, reviews) for v in risk_repo.violations(user_id, receipt_id)]}


def _with_status(violation: Violation, reviews: list[Review]) -> dict:
    """A violation is open until a clinician reviews the decision after it was raised (the
    same reading as the compliance report's); the review that cleared it is named."""
    clearing = next((r for r in sorted(reviews, key=lambda r: r.created_at)
                     if r.created_at >= violation.created_at), None)
    return {"framework": violation.framework, "rule": violation.rule, "severity": violation.severity,
            "created_at": violation.created_at, "status": "open" if clearing is None else "cleared",
            "cleared_by_review": None if clearing is None else clearing.id}
