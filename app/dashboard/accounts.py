"""The landing page, sign-up, log-in and log-out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from flask_login import current_user

from app.dashboard.blueprint import bp, page
from app.errors import EXPECTED_ERRORS, api_error
from app.identity import accounts
from app.identity.oauth import enabled_providers


def _next_page() -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc \
            and "\\" not in target:
        return target
    return url_for("dashboard.overview")


@bp.route("/")
def landing():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    return page("landing.html", title="Aqta: one endpoint for every LLM",
                base_url=request.url_root.rstrip("/"))


def _credentials_page(template: str, action):
    """Show the form; on a post, run ``action(email, password)`` and sign the account in."""
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    error, status, email = None, 200, request.form.get("email", "")
    if request.method == "POST":
        try:
            user = action(email, request.form.get("password", ""))
        except EXPECTED_ERRORS as failure:
            exc = api_error(failure)
            error, status = exc.message, exc.status
        else:
            accounts.start_session(user)
            return redirect(_next_page())
    return page(template, status, error=error, email=email, providers=enabled_providers(),
                next=request.values.get("next", ""))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    return _credentials_page("signup.html", accounts.sign_up)


@bp.route("/login", methods=["GET", "POST"])
def login():
    return _credentials_page("login.html", accounts.log_in)


@bp.route("/logout", methods=["POST"])
def logout():
    accounts.end_session()
    flash("You are signed out.")
    return redirect(url_for("dashboard.login"))
