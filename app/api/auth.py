"""Accounts: sign up and log in with email and password, log out, and who am I."""
from __future__ import annotations

from flask import session
from flask_login import login_user, logout_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

import storage.users as users_repo
from app.api.schemas import AUTHENTICATED, UserSchema
from app.errors import AqtaError
from app.identity.authentication import SessionUser, current_principal
from app.identity.emails import normalise_email
from app.identity.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from app.identity.throttle import throttle_signin

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Accounts and sessions")


class InvalidCredentials(AqtaError):
    status = 401
    code = "invalid_credentials"


class CredentialsSchema(Schema):
    email = fields.String(required=True, metadata={"example": "ada@example.com"})
    password = fields.String(required=True, load_only=True,
                             metadata={"example": "correct horse battery 9",
                                       "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH})


class SessionSchema(Schema):
    user = fields.Nested(UserSchema, required=True)


def start_session(user) -> dict:
    """Log the user in with a fresh session cookie (no fixation) and describe them."""
    session.clear()
    login_user(SessionUser(user))
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
    found = users_repo.password_hash_for(email)
    user, password_hash = found if found else (None, None)
    if not verify_password(password_hash, credentials["password"]):
        raise wrong
    if needs_rehash(password_hash):
        users_repo.set_password_hash(user.id, hash_password(credentials["password"]))
    return start_session(user)


@blp.route("/logout", methods=["POST"])
@blp.response(204)
def logout():
    """End the session (harmless when there is none)."""
    logout_user()
    session.clear()


@blp.route("/me")
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Not signed in")
@blp.doc(security=AUTHENTICATED)
def me():
    """The signed-in user (or the API key's owner) and their tier."""
    return users_repo.get(current_principal().user_id)
