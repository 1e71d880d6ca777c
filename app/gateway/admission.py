"""Admission: may this key's request go to a provider now?

The order is authentication, validation, model access (in the view), then here:
rate limit, monthly quota, loop check. Cheap refusals come first, and the rate
limit comes before the quota so a burst that is refused anyway never touches
the month's count; the loop check comes last among them because it is the only
one that reads the request's content, and a request it refuses gives its quota
back.
"""
from __future__ import annotations

from flask import Flask, current_app

from app.gateway.limits import enforce_rate_limit, monthly_quota
from app.gateway.quotas import DatabaseQuotaCounter, QuotaCounter, RedisQuotaCounter, Reservation
from app.tiers import TIERS
from storage.records import ApiKeyRecord


def init_app(app: Flask) -> None:
    client = app.extensions["aqta.redis"]
    app.extensions["aqta.quotas"] = RedisQuotaCounter(client) if client else DatabaseQuotaCounter()


def quota_counter() -> QuotaCounter:
    return current_app.extensions["aqta.quotas"]


def account_quota(key: ApiKeyRecord) -> int:
    """The account's monthly requests: its tier's, or more when an operator raised this key."""
    return max(TIERS[key.tier].monthly_requests, monthly_quota(key))


def admit(key: ApiKeyRecord) -> Reservation:
    """Rate-limit and count the request; the caller releases the reservation if it fails early."""
    enforce_rate_limit(key)
    return quota_counter().reserve(key.id, key.user_id, monthly_quota(key), account_quota(key))


def release(reservation: Reservation) -> None:
    quota_counter().release(reservation)
