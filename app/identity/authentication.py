"""Who is calling: a Bearer API key, or a flask-login session cookie.

The header may be spelled ``Authorization`` or ``Authorisation``. A request
that presents a key is judged by the key alone; otherwise the session decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import Flask, g, request
from flask_login import LoginManager, UserMixin, current_user

import storage.users as users_repo
from app.errors import Forbidden, InvalidApiKey, NotAuthenticated
from app.identity import sessions
from app.identity.api_keys import ADMIN, KEY_PREFIX, key_cache
from storage.errors import UserNotFound
from storage.records import ApiKeyRecord, UserRecord


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class SessionUser(UserMixin):
    def __init__(self, record: UserRecord):
        self.record = record

    def get_id(self) -> str:
        return self.record.id


@dataclass(frozen=True)
class Principal:
    user_id: str
    key: ApiKeyRecord | None  # None when the caller came with a session cookie


def bearer_token() -> str | None:
    header = request.headers.get("Authorization") or request.headers.get("Authorisation")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidApiKey("The Authorization header must be 'Bearer sk-aqta-…'.")
    return token.strip()


def authenticate_key() -> ApiKeyRecord:
    """The API key of this request, or InvalidApiKey."""
    token = bearer_token()
    if token is None:
        raise InvalidApiKey("No API key: send 'Authorization: Bearer sk-aqta-…'.")
    record = key_cache().lookup(token) if token.startswith(KEY_PREFIX) else None
    if record is None:
        raise InvalidApiKey("The API key is not valid or has been revoked.")
    g.key_id = record.id  # for the log lines of this request
    return record


def current_principal() -> Principal:
    """The caller by key or by session; NotAuthenticated when neither."""
    if "principal" in g:
        return g.principal
    if bearer_token() is not None:
        key = authenticate_key()
        principal = Principal(key.user_id, key)
    elif current_user.is_authenticated:
        principal = Principal(current_user.get_id(), None)
    else:
        raise NotAuthenticated("Sign in, or send 'Authorization: Bearer sk-aqta-…'.")
    g.principal = principal
    return principal


def login_required(view):
    """Require a session or an admin-scoped key for a (management) view."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        key = current_principal().key
        if key is not None and key.scope != ADMIN:
            raise InsufficientScope(
                f"This API key has the {key.scope!r} scope: it may call /v1/chat/completions and "
                "/v1/models only. Manage the account signed in, or with an 'admin' key.")
        return view(*args, **kwargs)

    return wrapped


def _load_session_user(user_id: str) -> SessionUser | None:
    try:
        user = users_repo.get(user_id)
    except UserNotFound:
        return None
    return SessionUser(user) if sessions.is_current(user) else None


def init_app(app: Flask) -> None:
    app.session_interface = sessions.CookieSessions()
    manager = LoginManager()
    manager.user_loader(_load_session_user)
    # "strong": a session cookie presented by another browser (its address or User-Agent)
    # is dropped, so a copied cookie does not sign its thief in. ("basic" only marks such a
    # session not fresh, which nothing here checks: no protection at all.)
    manager.session_protection = "strong"
    manager.init_app(app)
