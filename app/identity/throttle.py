"""Sign-in throttling with flask-limiter: guessing passwords costs time.

Password sign-ups, logins and password changes, and OAuth sign-ins, are each
counted per client address in a moving window (``SIGNIN_RATE_LIMIT``, default 10
per minute, for each), in Redis when ``REDIS_URL`` is set so every process shares
the count, else in process. One more attempt is a 429 ``rate_limit_exceeded``
with Retry-After. If Redis blinks, flask-limiter counts in memory until it is
back: a looser limit beats locking everyone out.

Failed passwords are also counted per account (``SIGNIN_ACCOUNT_FAILURE_LIMIT``,
default 10 per hour), so guessing from many addresses gains nothing: past it,
even the right password is refused until the window moves on. The count is kept
per email whether or not an account has it, so the answer tells nobody which
addresses have accounts.

Behind a proxy the client address is the proxy's unless the deployment trusts
its X-Forwarded-For (werkzeug's ProxyFix), as for any Flask app.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from redis import RedisError

from app.errors import AqtaError

log = logging.getLogger(__name__)

SIGNIN_BLUEPRINTS = ("auth", "oauth")  # the blueprints of the sign-in views (app.api.auth, .oauth)
ACCOUNT_FAILURES = "aqta-account-failures"  # the per-account count's namespace


class TooManySignIns(AqtaError):
    status = 429
    code = "rate_limit_exceeded"


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.config.update(
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        # In Redis, under REDIS_KEY_PREFIX like every other key (limits' own default is LIMITS:).
        RATELIMIT_STORAGE_OPTIONS={"socket_timeout": 2, "socket_connect_timeout": 2,
                                   "key_prefix": f"{settings.redis_key_prefix}limits"}
        if settings.redis_url else {},
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_KEY_PREFIX="aqta",
    )
    # No default limits: only the sign-in views are limited, from inside the views.
    limiter = Limiter(key_func=get_remote_address, app=app, default_limits=[])
    app.extensions["aqta.limiter"] = limiter
    app.extensions["aqta.account_failure_limit"] = parse(settings.signin_account_failure_limit)
    scope_hooks(app, limiter, SIGNIN_BLUEPRINTS)
    for blueprint in SIGNIN_BLUEPRINTS:
        # First in the list, so it runs after flask-limiter's hook (they run in reverse).
        app.after_request_funcs.setdefault(blueprint, []).insert(0, _retry_after_only_on_refusals)


def _retry_after_only_on_refusals(response):
    """flask-limiter puts Retry-After on every answer; it belongs only on a refusal."""
    if response.status_code < 400:
        response.headers.pop("Retry-After", None)
    return response


def scope_hooks(app: Flask, extension: object, blueprints: tuple[str, ...]) -> None:
    """Run an extension's request hooks for some blueprints' views only.

    flask-limiter registers app-wide hooks; on every other request (chat included)
    they would only find no limit, at 37 µs a request, as much as Flask's own work.
    """
    def belongs(hook) -> bool:
        owner = getattr(hook, "__self__", None) or (getattr(hook, "args", None) or (None,))[0]
        return owner is extension

    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        moved = [hook for hook in hooks.get(None, []) if belongs(hook)]
        hooks[None] = [hook for hook in hooks.get(None, []) if not belongs(hook)]
        for blueprint in blueprints:
            hooks.setdefault(blueprint, []).extend(moved)


def throttle_signin() -> None:
    """Count a sign-in attempt from this client address; raise TooManySignIns past the limit."""
    limiter: Limiter = current_app.extensions["aqta.limiter"]
    limit = current_app.config["AQTA_SETTINGS"].signin_rate_limit
    try:
        with limiter.limit(limit, scope="signin"):
            pass
    except RateLimitExceeded:
        # flask-limiter still adds the X-RateLimit-* and Retry-After headers to this answer.
        raise TooManySignIns(f"Too many sign-in attempts from this address (limit: {limit}); "
                             "retry after the time in the Retry-After header.") from None


def _account_identifiers(email: str) -> tuple[str, str]:
    # A hash, so the limiter's storage holds no email addresses.
    return ACCOUNT_FAILURES, hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


def check_account(email: str) -> None:
    """Raise TooManySignIns when ``email``'s account has had too many failed passwords lately."""
    limiter: Limiter = current_app.extensions["aqta.limiter"]
    item: RateLimitItem = current_app.extensions["aqta.account_failure_limit"]
    identifiers = _account_identifiers(email)
    try:
        if limiter.limiter.test(item, *identifiers):
            return
        reset_at = limiter.limiter.get_window_stats(item, *identifiers).reset_time
    except (RedisError, OSError):
        log.warning("the sign-in failure count is unreachable; not checking it")
        return
    retry_after = max(1, math.ceil(reset_at - time.time()))
    raise TooManySignIns("Too many failed sign-ins to this account; retry after the time in "
                         "the Retry-After header.", headers={"Retry-After": str(retry_after)})


def count_failure(email: str) -> None:
    """Count one wrong password given for ``email``'s account."""
    limiter: Limiter = current_app.extensions["aqta.limiter"]
    try:
        limiter.limiter.hit(current_app.extensions["aqta.account_failure_limit"],
                            *_account_identifiers(email))
    except (RedisError, OSError):
        log.warning("the sign-in failure count is unreachable; not counting")
