"""The classifier's worker side: open sealed cases, classify, append the result, raise the event.

Each case becomes one ``amendment`` leaf referencing its receipt (the receipt is never
rewritten) and one ``risk_assessments`` row, stored together by ``append``. The row's
key is the receipt id, so when two workers assess the same case (a redelivery, a
claimed entry) the second finds it taken and rolls its leaf back: one assessment and
one ``healthcare.high_risk_decision`` per decision.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Flask, current_app

import storage.risk as risk_repo
from app.handoff.drain import drain_handoff
from app.healthcare.append import append
from app.healthcare.leaves import AMENDMENT, LEAF_VERSION, parse_timestamp, timestamp
from app.healthcare.risk import oversight
from app.healthcare.risk.cases import InvalidCase, risk_cases
from app.healthcare.risk.rules import HIGH, Classification, Declared, RuleSet
from app.webhooks import service as webhooks
from app.webhooks.events import HIGH_RISK_DECISION
from storage.ids import new_id, utcnow
from storage.risk import Assessment

log = logging.getLogger(__name__)
GROUP = "aqta-risk-classifier"  # the case stream's consumer group
CLASSIFIER = "aqta-rules/1"  # the classifier's own version; the rule set carries its own
RISK_ASSESSMENT = "risk_assessment"  # the amendment's kind


class AlreadyAssessed(Exception):
    """Another worker stored this receipt's assessment first (rolls this one back)."""


def init_app(app: Flask) -> None:
    app.extensions["aqta.risk_rules"] = RuleSet.from_file(app.config["AQTA_SETTINGS"].risk_rules_file)


def rule_set() -> RuleSet:
    return current_app.extensions["aqta.risk_rules"]


def amendment_leaf(case: dict, result: Classification, assessed_at: datetime) -> dict:
    """The amendment recording ``result`` for the case's receipt (no text of the case)."""
    return {"leaf_type": AMENDMENT, "v": LEAF_VERSION, "id": new_id("amd"), "kind": RISK_ASSESSMENT,
            "receipt_id": case["receipt_id"], "request_id": case["request_id"],
            "account_id": case["account_id"], "key_id": case["key_id"], "model": case["model"],
            "created_at": timestamp(assessed_at),
            "risk": {"level": result.level, "score": f"{result.score:.3f}", "categories": result.categories,
                     "rule_ids": result.rule_ids, "rule_set_version": result.version,
                     "classifier": CLASSIFIER}}


def assess(case: dict) -> Assessment | None:
    """Classify one opened case and store it; None if it was assessed already."""
    result = rule_set().classify(case.get("request") or "", case.get("answer") or "",
                                 Declared(case.get("decision_type"), case.get("risk")))
    now = utcnow()
    leaf = amendment_leaf(case, result, now)
    row = Assessment(case["receipt_id"], leaf["id"], case["account_id"], case["key_id"],
                     case["request_id"], case["model"], result.level, leaf["risk"]["score"],
                     result.categories, parse_timestamp(case["created_at"]), now)

    def index() -> None:
        if not risk_repo.add_assessment(row):
            raise AlreadyAssessed(row.receipt_id)

    try:
        append(leaf, also=index)
    except AlreadyAssessed:
        return None
    if result.level == HIGH:
        webhooks.emit(HIGH_RISK_DECISION, row.user_id, {
            "request_id": row.request_id, "receipt_id": row.receipt_id, "key_id": row.key_id,
            "model": row.model, "risk_level": HIGH, "risk_score": result.score,
            "categories": result.categories,
            "summary": f"High-risk decision ({', '.join(result.categories) or 'declared'}); "
                       f"rules {', '.join(result.rule_ids)}"})
        oversight.check_approved_model(row)
    return row


def store_cases(raw: list[bytes], reject: Callable[[bytes, Exception], None]) -> int:
    """A drain's sink: open and assess each case; one that cannot be opened is set aside
    (sealed, so setting it aside logs no text)."""
    sealer, done = risk_cases(), 0
    for data in raw:
        try:
            case = sealer.open(data)
            parse_timestamp(case["created_at"])
        except (InvalidCase, ValueError) as exc:
            reject(data, exc)
            continue
        assess(case)
        done += 1
    return done


def drain_cases() -> int:
    """Assess every handed-off case: from the stream (with Redis) and the journal."""
    settings = current_app.config["AQTA_SETTINGS"]
    return drain_handoff(current_app.extensions.get("aqta.redis"), settings.risk_stream, GROUP,
                         settings.risk_journal_dir, store_cases)
