"""The Aqta application factory. Importing this package does nothing."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask, g, request

if TYPE_CHECKING:
    from app.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from ``settings`` (default: read from the environment)."""
    from app.config import settings_from_env
    from app.errors import UnsupportedMediaType, register_error_handlers
    from storage.ids import new_id

    settings = settings or settings_from_env()
    app = Flask(__name__, static_folder=None)
    app.config.update(
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
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from app import authn, dashboard, keys, oauth, services, signin_throttle, webhooks
    from app.api import register_api
    from app.gateway import admission, alerts, budgets, cache, limits, request_log
    from app.gateway import service as gateway_service
    from workers import runtime as workers_runtime

    services.init_app(app)
    gateway_service.init_app(app)
    limits.init_app(app)
    budgets.init_app(app)
    admission.init_app(app)
    alerts.init_app(app)
    cache.init_app(app)
    request_log.init_app(app)
    keys.init_app(app)
    authn.init_app(app)
    signin_throttle.init_app(app)
    oauth.init_app(app)
    webhooks.init_app(app)
    register_api(app)
    dashboard.init_app(app)
    register_error_handlers(app)
    workers_runtime.init_app(app)  # last: an embedded worker starts on a finished app

    @app.before_request
    def assign_request_id():
        g.request_id = new_id("req")

    @app.after_request
    def add_request_id(response):
        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        return response

    @app.before_request
    def refuse_non_json_bodies():
        # Browsers send cross-site form posts as form or text types without a CORS
        # preflight; accepting only JSON bodies (together with SameSite=Lax cookies)
        # makes a cookie-authenticated change unforgeable from another site. The
        # dashboard's HTML forms are the exception: they carry a CSRF token instead.
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.content_length \
                and not request.is_json and request.blueprint != dashboard.BLUEPRINT:
            raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")

    return app
