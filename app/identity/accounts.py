"""Accounts: sign up and log in with email and password, start and end a browser session.

The JSON API (``app.api.auth``) and the dashboard's forms both call these, so the
rules live once: throttling per address and per account, email normalisation,
password strength, rehashing, and server-side session generations.
"""
from __future__ import annotations

from flask import session
from flask_login import current_user, login_user, logout_user

import storage.users as users_repo
from app.errors import AqtaError
from app.healthcare import audit
from app.identity import sessions
from app.identity.authentication import SessionUser
from app.identity.emails import normalise_email
from app.identity.passwords import check_strength, hash_password, needs_rehash, verify_password
from app.identity.throttle import check_account, count_failure, throttle_signin
from storage.records import UserRecord


class InvalidCredentials(AqtaError):
    status = 401
    code = "invalid_credentials"


def sign_up(email: str, password: str) -> UserRecord:
    """Create an account with a strong password (throttled per client address)."""
    throttle_signin()
    email = normalise_email(email)
    check_strength(password, email)
    user = users_repo.create(email, hash_password(password))
    audit.record(audit.ACCOUNT_CREATED, audit.CREATE, account_id=user.id, entity_type=audit.ACCOUNT,
                 entity_id=user.id)
    return user


def log_in(email: str, password: str) -> UserRecord:
    """The account these credentials open, or InvalidCredentials (throttled per address
    and, for failures, per account)."""
    throttle_signin()
    wrong = InvalidCredentials("The email or password is wrong.")
    try:
        email = normalise_email(email)
    except AqtaError:
        raise wrong from None
    check_account(email)
    found = users_repo.password_hash_for(email)
    user, password_hash = found if found else (None, None)
    if not verify_password(password_hash, password):
        count_failure(email)
        if user is not None:  # an address with no account has no trail to write to
            _record_login(user.id, audit.FAILURE)
        raise wrong
    if needs_rehash(password_hash):
        users_repo.set_password_hash(user.id, hash_password(password))
    _record_login(user.id, audit.SUCCESS)
    return user


def _record_login(user_id: str, outcome: str) -> None:
    audit.record(audit.LOGIN, audit.EXECUTE, account_id=user_id, entity_type=audit.ACCOUNT,
                 entity_id=user_id, outcome=outcome)


def change_password(user_id: str, current_password: str | None, new_password: str) -> UserRecord:
    """Set a new password (the current one first, when the account has one)."""
    throttle_signin()
    user = users_repo.get(user_id)
    if user.has_password:
        check_account(user.email)
        _, password_hash = users_repo.password_hash_for(user.email)
        if not verify_password(password_hash, current_password or ""):
            count_failure(user.email)
            raise InvalidCredentials("The current password is wrong.")
    check_strength(new_password, user.email)
    return users_repo.change_password(user.id, hash_password(new_password))


def start_session(user: UserRecord) -> None:
    """Log the user in with a fresh session cookie (no fixation), of the account's generation."""
    session.clear()
    login_user(SessionUser(user))
    sessions.mark(user)


def end_session() -> None:
    """Log out, ending every session of the account (harmless when nobody is logged in)."""
    if current_user.is_authenticated:
        user_id = current_user.get_id()
        sessions.end_all(user_id)
        audit.record(audit.LOGOUT, audit.EXECUTE, account_id=user_id, entity_type=audit.ACCOUNT,
                     entity_id=user_id)
    logout_user()
    session.clear()
