"""Admission: may this key's request go to a provider now?

The order is authentication, validation, model access (in the view), then here:
rate limit, monthly quota, loop check. Cheap refusals come first, and the rate
limit comes before the quota so a burst that is refused anyway never touches
the month's count; the loop check comes last among them because it is the only
one that reads the request's content, and a request it refuses gives its quota
back (a refused request is not billed and does not use quota). The counting
itself is one step (``counters``: one Redis round trip); the refusals are read
off its tally in that order.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import Flask, current_app, g

import storage.loop_events as loop_events
from app.gateway import budgets
from app.gateway.admission.alerts import alert_once
from app.gateway.admission.counters import (
    AdmissionCounters,
    Counting,
    LocalAdmissionCounters,
    RedisAdmissionCounters,
)
from app.gateway.admission.quotas import (
    DatabaseQuotaCounter,
    QuotaCounter,
    RedisQuotaCounter,
    Reservation,
    current_period,
    quota_exceeded,
    quota_limits,
)
from app.gateway.admission.rate_limits import (
    MemoryRateWindows,
    RateLimited,
    monthly_quota,
    requests_per_minute,
)
from app.gateway.admission.rebuild import CounterRebuilder
from app.gateway.budgets import BudgetExceeded
from app.gateway.loops.detector import (
    LoopDetected,
    LoopDetector,
    LoopThresholds,
    LoopVerdict,
    MemoryLoopStore,
    RedisLoopStore,
    key_thresholds,
)
from app.gateway.loops.similarity import summarise
from app.handoff.alongside import Alongside
from app.redis_keys import RedisKeys
from app.tiers import TIERS
from storage.records import ApiKeyRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    """An admitted request: its quota reservation and its place in the loop history."""

    reservation: Reservation
    loop_subject: str
    fingerprint: str | None  # None when the request was not recorded for loop detection
    started_at: float  # seconds since the epoch; with the fingerprint, names it in the history


def init_app(app: Flask) -> None:
    """Call after ``budgets.init_app``: the Redis counters read the budgets' spend."""
    client = app.extensions["aqta.redis"]
    keys = RedisKeys(app.config["AQTA_SETTINGS"].redis_key_prefix)
    if client:
        quotas, store = RedisQuotaCounter(client, keys.quota), RedisLoopStore(client, keys.loops)
        counters = RedisAdmissionCounters(client, quotas, store, app.extensions["aqta.spend"],
                                          CounterRebuilder(client, keys.rebuilding), keys.rate)
    else:
        quotas, store = DatabaseQuotaCounter(), MemoryLoopStore()
        counters = LocalAdmissionCounters(MemoryRateWindows(), store)
    app.extensions["aqta.quotas"] = quotas
    app.extensions["aqta.loops"] = LoopDetector(store)
    app.extensions["aqta.counters"] = counters
    # The wall clock admission counts by (seconds since the epoch); tests put their own here.
    app.extensions["aqta.admission_clock"] = time.time


def quota_counter() -> QuotaCounter:
    return current_app.extensions["aqta.quotas"]


def loop_detector() -> LoopDetector:
    return current_app.extensions["aqta.loops"]


def admission_counters() -> AdmissionCounters:
    return current_app.extensions["aqta.counters"]


def account_quota(key: ApiKeyRecord) -> int:
    """The account's monthly requests: its tier's, or more when an operator raised this key."""
    return max(TIERS[key.tier].monthly_requests, monthly_quota(key))


def loop_thresholds(key: ApiKeyRecord) -> LoopThresholds:
    """The key's own thresholds (``api_keys.loop_settings``) over the defaults."""
    return key_thresholds(loop_detector().default_thresholds, key.loop_settings)


def loop_subject(key: ApiKeyRecord, body: dict) -> str:
    # End users of one application share its key; their `user` keeps them apart, so
    # a hundred people saying "hello" to the same app are not one looping caller.
    user = body.get("user")
    return f"{key.id}:{user}" if user else key.id


def admit(key: ApiKeyRecord, body: dict) -> Admission:
    """Rate-limit, count, loop-check and budget-check the request; refuse with a typed error."""
    now = current_app.extensions["aqta.admission_clock"]()
    thresholds = loop_thresholds(key)
    summary = summarise(body, now) if thresholds.enabled else None
    rpm = requests_per_minute(key)
    quotas = quota_limits(key.id, key.user_id, monthly_quota(key), account_quota(key))
    counting = Counting(key.id, rpm, current_app.config["AQTA_SETTINGS"].rate_limit_window_seconds,
                        quotas, current_period(), loop_subject(key, body), summary, thresholds,
                        budgets.hard_stops(key), now, key.user_id)
    tally = admission_counters().count(counting)
    g.rate_window = tally.rate
    if not tally.rate_admitted:
        raise RateLimited(tally.rate, rpm, now)
    if tally.full_quota is not None:
        raise quota_exceeded(quotas, tally.full_quota, counting.period)
    admission = Admission(tally.reservation, counting.loop_subject,
                          summary.fingerprint if tally.history is not None else None, now)
    if tally.history is not None:
        refuse_loop(key, admission, loop_detector().judge(counting.loop_subject, tally.history, now,
                                                          thresholds))
    try:
        budgets.enforce(key, tally.spent)
    except BudgetExceeded:
        refund(admission)
        raise
    alert_quota_thresholds(key, tally.reservation)
    return admission


def refuse_loop(key: ApiKeyRecord, admission: Admission, verdict: LoopVerdict | None) -> None:
    """Raise LoopDetected for a verdict (the request gives its quota back); None passes."""
    if verdict is None:
        return
    quota_counter().release(admission.reservation)
    finish(admission)  # refused: the caller's next identical request is another repeat
    if verdict.episode_started:
        event = loop_events.record(key.id, key.user_id, verdict.pattern, verdict.count,
                                   verdict.window_seconds, verdict.fingerprints)
        alert_once(f"loop:{event.id}", "loop.detected", key.user_id, {
            "key_id": key.id, "pattern": verdict.pattern, "count": verdict.count,
            "window_seconds": verdict.window_seconds, "fingerprints": verdict.fingerprints})
    raise LoopDetected(verdict, request_id=g.get("request_id"))


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
    _update_loop_history(admission, "discard")


def finish(admission: Admission) -> None:
    """The request was answered (or refused): an identical one sent from now on is a repeat.

    Called before the answer's last byte leaves, so a caller that waits for the answer
    and repeats at once is always counted.
    """
    _update_loop_history(admission, "finish")


def finishing(admission: Admission) -> Alongside | None:
    """``finish``, to ride in the round trip that keeps the request's record (which also
    happens before the answer's last byte leaves). None when there is nothing to send:
    the request was not recorded, or its history is in process and is marked now."""
    if admission.fingerprint is None:
        return None
    command = loop_detector().finish_command(admission.loop_subject, admission.started_at,
                                             admission.fingerprint)
    if command is None:
        finish(admission)
        return None
    return Alongside(command, lambda: finish(admission))


def _update_loop_history(admission: Admission, how: str) -> None:
    if admission.fingerprint is None:
        return
    detector = loop_detector()
    update = detector.discard if how == "discard" else detector.finish
    try:
        update(admission.loop_subject, admission.started_at, admission.fingerprint)
    except Exception:  # the loop history is advisory; never fail the response for it
        log.exception("could not %s a request in the loop history", how)
