"""Sign-in throttling with flask-limiter: guessing passwords costs time.

Password sign-ups and logins are each counted per client address in a moving
window (``SIGNIN_RATE_LIMIT``, default 10 per minute, for each), in Redis when ``REDIS_URL`` is set
so every process shares the count, else in process. One more attempt is a 429
``rate_limit_exceeded`` with Retry-After. If Redis blinks, flask-limiter counts
in memory until it is back: a looser limit beats locking everyone out.

Behind a proxy the client address is the proxy's unless the deployment trusts
its X-Forwarded-For (werkzeug's ProxyFix), as for any Flask app.
"""
from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from app.errors import AqtaError

AUTH_BLUEPRINT = "auth"  # the blueprint of the sign-in views (app.api.auth)


class TooManySignIns(AqtaError):
    status = 429
    code = "rate_limit_exceeded"


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    app.config.update(
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_STORAGE_OPTIONS={"socket_timeout": 2, "socket_connect_timeout": 2},
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_KEY_PREFIX="aqta",
    )
    # No default limits: only the sign-in views are limited, from inside the views.
    limiter = Limiter(key_func=get_remote_address, app=app, default_limits=[])
    app.extensions["aqta.limiter"] = limiter
    scope_hooks(app, limiter, AUTH_BLUEPRINT)


def scope_hooks(app: Flask, extension: object, blueprint: str) -> None:
    """Run an extension's request hooks for one blueprint's views only.

    flask-limiter registers app-wide hooks; on every other request (chat included)
    they would only find no limit, at 37 µs a request, as much as Flask's own work.
    """
    def belongs(hook) -> bool:
        owner = getattr(hook, "__self__", None) or (getattr(hook, "args", None) or (None,))[0]
        return owner is extension

    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        moved = [hook for hook in hooks.get(None, []) if belongs(hook)]
        hooks[None] = [hook for hook in hooks.get(None, []) if not belongs(hook)]
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
