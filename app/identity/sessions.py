"""Server-side limits on session cookies: log-out and password change end them for good.

A session cookie is signed, not stored, so on its own it would work until it
expires. Each one carries the user's session generation at sign-in, when it
began and when it was last used; the user loader accepts it only while the
generation is current (bumped by log-out and password change), it is younger
than ``SESSION_MAX_SECONDS`` and was used within ``SESSION_IDLE_SECONDS``.
"""
from __future__ import annotations

import time

from flask import current_app, session
from flask.sessions import SecureCookieSessionInterface

import storage.users as users_repo
from storage.records import UserRecord

GENERATION, STARTED, SEEN = "aqta_gen", "aqta_started", "aqta_seen"
SEEN_RESOLUTION = 60  # seconds; last use is rewritten (a new cookie) at most this often


def mark(user: UserRecord) -> None:
    """Stamp a freshly signed-in session with the user's generation and the time."""
    now = int(time.time())
    session.update({GENERATION: user.session_generation, STARTED: now, SEEN: now})


def is_current(user: UserRecord) -> bool:
    """Whether this request's session cookie may still act for ``user``; notes the use."""
    settings = current_app.config["AQTA_SETTINGS"]
    now = int(time.time())
    started, seen = session.get(STARTED), session.get(SEEN)
    if session.get(GENERATION) != user.session_generation or not isinstance(started, int) \
            or not isinstance(seen, int) or now - started > settings.session_max_seconds \
            or now - seen > settings.session_idle_seconds:
        session.clear()
        return False
    if now - seen >= SEEN_RESOLUTION:
        session[SEEN] = now
    return True


def end_all(user_id: str) -> None:
    """Void every session cookie ``user_id`` holds, on every instance, at once."""
    users_repo.end_sessions(user_id)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without their cost on a request that brings no cookie
    and leaves none, as every API call does (it carries a key): Flask built a signer to
    open such a session and read seven cookie settings to save it, on every request."""

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if not session and not session.modified:  # nothing to set or delete: Flask's own answer
            if session.accessed:  # (flask_login looks at every request's session)
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
