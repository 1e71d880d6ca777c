"""The dashboard: server-rendered pages for people, on the same services as the JSON API.

Pages are Jinja templates with their CSS and one small script served from this
package (no CDN, no build step); charts are SVG drawn on the server. Forms post
with the session cookie, so every form carries a CSRF token (Flask-WTF), checked
for this blueprint's views only: the JSON API keeps its own rule (JSON bodies).
"""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from app.dashboard import accounts, keys, pages, receipts, usage, webhooks  # noqa: F401  (their routes)
from app.dashboard.blueprint import bp

BLUEPRINT = bp.name


def init_app(app: Flask) -> None:
    # CSRFProtect's app-wide check stays off; the blueprint's own hook calls it.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.extensions["aqta.csrf"] = CSRFProtect(app)
    app.register_blueprint(bp)
