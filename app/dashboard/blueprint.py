"""The dashboard's blueprint, its sign-in guard, and how its pages show errors."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from app.errors import EXPECTED_ERRORS, api_error
from storage.records import UserRecord

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard/static")


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def check_csrf_token() -> None:
    """Every form post of the dashboard carries its session's CSRF token."""
    if request.method not in SAFE_METHODS:
        current_app.extensions["aqta.csrf"].protect()


@bp.after_request
def never_cache(response):
    """Pages hold one account's data, and some a secret shown once: keep them out of caches."""
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def signed_in(view):
    """Send a visitor without a session to the log-in page, then back here."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("dashboard.login", next=back))
        return view(*args, **kwargs)

    return wrapped


def me() -> UserRecord:
    """The signed-in account (read fresh for this request)."""
    return current_user.record


def page(template: str, status: int = 200, **context):
    """Render one of the dashboard's templates."""
    return render_template(f"dashboard/{template}", **context), status


def paging_args() -> dict[str, str]:
    """This page's non-empty query but its cursor: the links to the first and next pages add theirs."""
    return {name: value for name, value in request.args.items() if name != "cursor" and value}


def show_error(failure: Exception):
    """An error a page did not handle itself: a page, not the API's JSON."""
    error = api_error(failure)
    return page("error.html", error.status, title="Something went wrong", message=error.message)


for _expected in EXPECTED_ERRORS:
    bp.register_error_handler(_expected, show_error)


@bp.errorhandler(CSRFError)
def show_csrf_error(error: CSRFError):
    return page("error.html", 400, title="This form has expired",
                message="The form was open too long or came from another site. "
                        "Go back, reload the page and try again.")
