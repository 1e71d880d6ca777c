"""Accounts: sign up and log in with email and password, log out, and who am I."""
from __future__ import annotations

from flask import session
from flask_login import current_user, login_user, logout_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

import storage.users as users_repo
from app.api.schemas import AUTHENTICATED, UserSchema
from app.errors import AqtaError, Forbidden
from app.identity import sessions
from app.identity.authentication import SessionUser, current_principal
from app.identity.emails import normalise_email
from app.identity.passwords import check_strength, hash_password, needs_rehash, verify_password
from app.identity.throttle import check_account, count_failure, throttle_signin

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Accounts and sessions")


class InvalidCredentials(AqtaError):
    status = 401
    code = "invalid_credentials"


class CredentialsSchema(Schema):
    email = fields.String(required=True, metadata={"example": "ada@example.com"})
    password = fields.String(required=True, load_only=True,
                             metadata={"example": "correct horse battery 9"})


class SessionSchema(Schema):
    user = fields.Nested(UserSchema, required=True)


class PasswordChangeSchema(Schema):
    current_password = fields.String(load_default=None, load_only=True, metadata={
        "description": "The password now; not needed when the account has none yet"})
    new_password = fields.String(required=True, load_only=True,
                                 metadata={"example": "another horse battery 7"})


def start_session(user) -> dict:
    """Log the user in with a fresh session cookie (no fixation) and describe them."""
    session.clear()
    login_user(SessionUser(user))
    sessions.mark(user)
    return {"user": user}


@blp.route("/signup", methods=["POST"])
@blp.arguments(CredentialsSchema)
@blp.response(201, SessionSchema)
@blp.alt_response(400, description="Malformed email or weak password")
@blp.alt_response(409, description="The email is taken")
@blp.alt_response(429, description="Too many sign-in attempts from this address")
def signup(credentials):
    """Create an account with email and password and sign it in."""
    throttle_signin()
    email = normalise_email(credentials["email"])
    check_strength(credentials["password"], email)
    user = users_repo.create(email, hash_password(credentials["password"]))
    return start_session(user)


@blp.route("/login", methods=["POST"])
@blp.arguments(CredentialsSchema)
@blp.response(200, SessionSchema)
@blp.alt_response(401, description="Wrong email or password")
@blp.alt_response(429, description="Too many sign-in attempts from this address")
def login(credentials):
    """Sign in with email and password; sets the session cookie."""
    throttle_signin()
    wrong = InvalidCredentials("The email or password is wrong.")
    try:
        email = normalise_email(credentials["email"])
    except AqtaError:
        raise wrong from None
    check_account(email)
    found = users_repo.password_hash_for(email)
    user, password_hash = found if found else (None, None)
    if not verify_password(password_hash, credentials["password"]):
        count_failure(email)
        raise wrong
    if needs_rehash(password_hash):
        users_repo.set_password_hash(user.id, hash_password(credentials["password"]))
    return start_session(user)


@blp.route("/logout", methods=["POST"])
@blp.response(204)
def logout():
    """End the session, and every other session cookie of the account (harmless with none)."""
    if current_user.is_authenticated:
        sessions.end_all(current_user.get_id())
    logout_user()
    session.clear()


@blp.route("/password", methods=["POST"])
@blp.arguments(PasswordChangeSchema)
@blp.response(200, SessionSchema)
@blp.alt_response(400, description="Weak new password")
@blp.alt_response(401, description="Not signed in, or the current password is wrong")
@blp.alt_response(403, description="session_required: an API key cannot change the password")
@blp.alt_response(429, description="Too many sign-in attempts from this address")
@blp.doc(security=[{"cookieAuth": []}])
def change_password(body):
    """Set a new password; every other session of the account ends, this one is renewed."""
    if current_principal().key is not None:
        raise Forbidden("Change the password signed in with a session, not with an API key.",
                        code="session_required")
    throttle_signin()
    user = users_repo.get(current_principal().user_id)
    if user.has_password:
        check_account(user.email)
        _, password_hash = users_repo.password_hash_for(user.email)
        if not verify_password(password_hash, body["current_password"] or ""):
            count_failure(user.email)
            raise InvalidCredentials("The current password is wrong.")
    check_strength(body["new_password"], user.email)
    return start_session(users_repo.change_password(user.id, hash_password(body["new_password"])))


@blp.route("/me")
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Not signed in")
@blp.doc(security=AUTHENTICATED)
def me():
    """The signed-in user (or the API key's owner) and their tier."""
    return users_repo.get(current_principal().user_id)
