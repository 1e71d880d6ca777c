"""Per-key rate limits with flask-limiter: a moving window, Redis-backed when configured.

The limit is checked inside the chat view (not in a before_request hook) so that
it runs after authentication, validation and the model-access check, in the
order the admission rules give. Responses carry X-RateLimit-Limit, -Remaining and
-Reset; a refusal is 429 ``rate_limit_exceeded`` with Retry-After.

When Redis is unreachable the limiter falls back to a per-process in-memory
window (fails open to a looser but still bounded limit) and returns to Redis
when it recovers: refusing all traffic because a counter store blinked would
turn a Redis outage into a gateway outage.
"""
from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from app.errors import AqtaError
from app.tiers import TIERS
from storage.records import ApiKeyRecord


def requests_per_minute(key: ApiKeyRecord) -> int:
    return key.rpm_limit if key.rpm_limit is not None else TIERS[key.tier].requests_per_minute


def monthly_quota(key: ApiKeyRecord) -> int:
    return key.monthly_quota if key.monthly_quota is not None else TIERS[key.tier].monthly_requests


class RateLimited(AqtaError):
    status = 429
    code = "rate_limit_exceeded"


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.config.update(
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_STORAGE_OPTIONS={"socket_timeout": 2, "socket_connect_timeout": 2,
                                   "max_connections": settings.redis_max_connections},
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_KEY_PREFIX="aqta",
    )
    # No default limits and no key function of its own: only the chat view is limited,
    # per API key, from inside the view.
    limiter = Limiter(key_func=lambda: "unused", app=app, default_limits=[])
    app.extensions["aqta.limiter"] = limiter


def enforce_rate_limit(key: ApiKeyRecord) -> None:
    """Count this request against the key's per-minute limit; raise RateLimitExceeded."""
    limiter: Limiter = current_app.extensions["aqta.limiter"]
    rpm = requests_per_minute(key)
    window = current_app.config["AQTA_SETTINGS"].rate_limit_window_seconds
    try:
        with limiter.limit(f"{rpm}/{window} seconds", key_func=lambda: key.id, scope="chat"):
            pass
    except RateLimitExceeded:
        # flask-limiter still adds the X-RateLimit-* and Retry-After headers to this answer.
        raise RateLimited(f"Rate limit of {rpm} requests per minute reached for this key; "
                          "retry after the time in the Retry-After header.") from None
