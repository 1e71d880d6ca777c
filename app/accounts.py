"""Accounts: sign up and log in with email and password, start and end a browser session.

The JSON API (app.api.auth) and the dashboard's forms both call these, so the
rules (throttling, email normalisation, password strength, rehashing) live once.
"""
from __future__ import annotations

from flask import session
from flask_login import login_user, logout_user

import storage.users as users_repo
from app.authn import SessionUser
from app.emails import normalise_email
from app.errors import AqtaError
from app.passwords import check_strength, hash_password, needs_rehash, verify_password
from app.signin_throttle import throttle_signin
from storage.records import UserRecord


class InvalidCredentials(AqtaError):
    status = 401
    code = "invalid_credentials"


def sign_up(email: str, password: str) -> UserRecord:
    """Create an account with a strong password (throttled per client address)."""
    throttle_signin()
    email = normalise_email(email)
    check_strength(password, email)
    return users_repo.create(email, hash_password(password))


def log_in(email: str, password: str) -> UserRecord:
    """The account these credentials open, or InvalidCredentials (throttled per address)."""
    throttle_signin()
    wrong = InvalidCredentials("The email or password is wrong.")
    try:
        email = normalise_email(email)
    except AqtaError:
        raise wrong from None
    found = users_repo.password_hash_for(email)
    user, password_hash = found if found else (None, None)
    if not verify_password(password_hash, password):
        raise wrong
    if needs_rehash(password_hash):
        users_repo.set_password_hash(user.id, hash_password(password))
    return user


def start_session(user: UserRecord) -> None:
    """Log the user in with a fresh session cookie (no fixation)."""
    session.clear()
    login_user(SessionUser(user))


def end_session() -> None:
    """Log out (harmless when nobody is logged in)."""
    logout_user()
    session.clear()
