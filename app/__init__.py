"""The Aqta application factory. Importing this package does nothing."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, g, request

from app.flask_app import AqtaFlask

if TYPE_CHECKING:
    from app.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from ``settings`` (default: read from the environment)."""
    from app import logs
    from app.config import settings_from_env
    from app.errors import UnsupportedMediaType, register_error_handlers
    from storage.ids import new_id

    settings = settings or settings_from_env()
    app = AqtaFlask(__name__, static_folder=None)
    app.config.update(
        PERMANENT_SESSION_LIFETIME=settings.session_max_seconds,  # the cookie signature's max age
        AQTA_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_NAME="aqta_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        JSON_SORT_KEYS=False,
    )
    logs.configure(settings)

    # Loaded here, not at the top: importing the package must do nothing (no Flask
    # extensions, no Redis or database modules), so `import app.x` stays cheap.
    from app import connections, dashboard, jobs
    from app.api import register_api
    from app.gateway import budgets, catalogue
    from app.gateway.admission import admit, alerts, rate_limits
    from app.gateway.cache import store as cache_store
    from app.gateway.request_log import sink as request_log_sink
    from app.healthcare import audit_listeners, receipts, transparency
    from app.healthcare.risk import assessment
    from app.healthcare.risk import cases as risk_cases
    from app.identity import api_keys, authentication, oauth, throttle
    from app.metrics import http as metrics_http
    from app.webhooks import service as webhooks_service

    logs.init_app(app)
    connections.init_app(app)
    metrics_http.init_app(app)
    jobs.init_app(app)
    catalogue.init_app(app)
    rate_limits.init_app(app)
    budgets.init_app(app)
    admit.init_app(app)
    alerts.init_app(app)
    cache_store.init_app(app)
    request_log_sink.init_app(app)
    receipts.init_app(app)
    transparency.init_app(app)
    audit_listeners.init_app(app)
    risk_cases.init_app(app)
    assessment.init_app(app)
    api_keys.init_app(app)
    authentication.init_app(app)
    throttle.init_app(app)
    oauth.init_app(app)
    webhooks_service.init_app(app)
    register_api(app)
    dashboard.init_app(app)
    register_error_handlers(app)

    @app.before_request
    def assign_request_id():
        g.request_id = new_id("req")

    @app.after_request
    def add_request_id(response):
        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        if request.path.startswith("/api/"):
            # Account data, new keys and webhook secrets: never kept by a cache or proxy.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.before_request
    def refuse_non_json_bodies():
        # Browsers send cross-site form posts as form or text types without a CORS
        # preflight; accepting only JSON bodies (together with SameSite=Lax cookies)
        # makes a cookie-authenticated change unforgeable from another site. Without a
        # key, a non-JSON type is refused even with an empty or chunked body. The
        # dashboard's HTML forms are the exception: they carry a CSRF token instead.
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or request.is_json \
                or request.blueprint == dashboard.BLUEPRINT:
            return
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        by_cookie = not (request.headers.get("Authorization")
                         or request.headers.get("Authorisation"))
        if request.content_length or (by_cookie and (request.mimetype or chunked)):
            raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")

    return app
