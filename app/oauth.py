"""OpenID Connect sign-in with Google and Microsoft (filled in by the OAuth work)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    app.extensions["aqta.oauth"] = None
