"""Admission: may this key's request go to a provider now?

The order is authentication, validation, model access (in the view), then here:
rate limit, monthly quota, loop check. Cheap refusals come first, and the rate
limit comes before the quota so a burst that is refused anyway never touches
the month's count; the loop check comes last among them because it is the only
one that reads the request's content, and a request it refuses gives its quota
back (a refused request is not billed and does not use quota).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from flask import Flask, current_app, g

import storage.loop_events as loop_events
from app.gateway import budgets
from app.gateway.alerts import alert_once
from app.gateway.budgets import BudgetExceeded
from app.gateway.limits import enforce_rate_limit, monthly_quota
from app.gateway.loop_similarity import fingerprint
from app.gateway.loops import LoopDetected, LoopDetector, LoopThresholds, MemoryLoopStore, RedisLoopStore
from app.gateway.quotas import DatabaseQuotaCounter, QuotaCounter, RedisQuotaCounter, Reservation
from app.tiers import TIERS
from storage.records import ApiKeyRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    """An admitted request: its quota reservation and where its loop history is kept."""

    reservation: Reservation
    loop_subject: str
    body: dict


def init_app(app: Flask) -> None:
    client = app.extensions["aqta.redis"]
    app.extensions["aqta.quotas"] = RedisQuotaCounter(client) if client else DatabaseQuotaCounter()
    app.extensions["aqta.loops"] = LoopDetector(RedisLoopStore(client) if client
                                                else MemoryLoopStore())


def quota_counter() -> QuotaCounter:
    return current_app.extensions["aqta.quotas"]


def loop_detector() -> LoopDetector:
    return current_app.extensions["aqta.loops"]


def account_quota(key: ApiKeyRecord) -> int:
    """The account's monthly requests: its tier's, or more when an operator raised this key."""
    return max(TIERS[key.tier].monthly_requests, monthly_quota(key))


def loop_thresholds(key: ApiKeyRecord) -> LoopThresholds | None:
    """The key's own thresholds (``api_keys.loop_settings``) over the defaults, if it has any."""
    if not key.loop_settings:
        return None
    return replace(loop_detector().default_thresholds, **key.loop_settings)


def loop_subject(key: ApiKeyRecord, body: dict) -> str:
    # End users of one application share its key; their `user` keeps them apart, so
    # a hundred people saying "hello" to the same app are not one looping caller.
    user = body.get("user")
    return f"{key.id}:{user}" if user else key.id


def admit(key: ApiKeyRecord, body: dict) -> Admission:
    """Rate-limit, count, loop-check and budget-check the request; refuse with a typed error."""
    enforce_rate_limit(key)
    reservation = quota_counter().reserve(key.id, key.user_id, monthly_quota(key),
                                          account_quota(key))
    subject = loop_subject(key, body)
    verdict = loop_detector().check(subject, body, time.time(), loop_thresholds(key))
    if verdict is not None:
        quota_counter().release(reservation)
        if verdict.episode_started:
            event = loop_events.record(key.id, key.user_id, verdict.pattern, verdict.count,
                                       verdict.window_seconds, verdict.fingerprints)
            alert_once(f"loop:{event.id}", "loop.detected", key.user_id, {
                "key_id": key.id, "pattern": verdict.pattern, "count": verdict.count,
                "window_seconds": verdict.window_seconds, "fingerprints": verdict.fingerprints})
        raise LoopDetected(verdict, request_id=g.get("request_id"))
    admission = Admission(reservation, subject, body)
    try:
        budgets.enforce(key)
    except BudgetExceeded:
        refund(admission)
        raise
    alert_quota_thresholds(key, reservation)
    return admission


def alert_quota_thresholds(key: ApiKeyRecord, reservation: Reservation) -> None:
    for scope, percent, quota, used in reservation.thresholds_reached():
        data = {"scope": scope.split(":")[0], "quota": quota, "used": used,
                "threshold_percent": percent, "month": reservation.period}
        if scope.startswith("key:"):
            data["key_id"] = key.id
        alert_once(f"quota:{reservation.period}:{scope}:{percent}", "quota.threshold_reached",
                   key.user_id, data)


def refund(admission: Admission) -> None:
    """The request failed before any token: it uses no quota and is no sign of a loop."""
    quota_counter().release(admission.reservation)
    try:
        loop_detector().discard(admission.loop_subject, fingerprint(admission.body))
    except Exception:  # the loop history is advisory; never fail the response for it
        log.exception("could not discard a failed request from the loop history")
