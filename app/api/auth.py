"""Accounts: sign up and log in with email and password, log out, and who am I."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

import storage.users as users_repo
from app.api.schemas import AUTHENTICATED, UserSchema
from app.errors import Forbidden
from app.identity import accounts
from app.identity.authentication import current_principal
from app.identity.passwords import MAX_LENGTH, MIN_LENGTH

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Accounts and sessions")


class CredentialsSchema(Schema):
    email = fields.String(required=True, metadata={"example": "ada@example.com"})
    password = fields.String(required=True, load_only=True,
                             metadata={"example": "correct horse battery 9",
                                       "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH})


class SessionSchema(Schema):
    user = fields.Nested(UserSchema, required=True)


class PasswordChangeSchema(Schema):
    current_password = fields.String(load_default=None, load_only=True, metadata={
        "description": "The password now; not needed when the account has none yet"})
    new_password = fields.String(required=True, load_only=True,
                                 metadata={"example": "another horse battery 7"})


def start_session(user) -> dict:
    """Log the user in with a fresh session cookie (no fixation) and describe them."""
    accounts.start_session(user)
    return {"user": user}


@blp.route("/signup", methods=["POST"])
@blp.arguments(CredentialsSchema)
@blp.response(201, SessionSchema)
@blp.alt_response(400, description="Malformed email or weak password")
@blp.alt_response(409, description="The email is taken")
@blp.alt_response(429, description="Too many sign-in attempts from this address")
def signup(credentials):
    """Create an account with email and password and sign it in."""
    return start_session(accounts.sign_up(credentials["email"], credentials["password"]))


@blp.route("/login", methods=["POST"])
@blp.arguments(CredentialsSchema)
@blp.response(200, SessionSchema)
@blp.alt_response(401, description="Wrong email or password")
@blp.alt_response(429, description="Too many sign-in attempts from this address")
def login(credentials):
    """Sign in with email and password; sets the session cookie."""
    return start_session(accounts.log_in(credentials["email"], credentials["password"]))


@blp.route("/logout", methods=["POST"])
@blp.response(204)
def logout():
    """End the session, and every other session cookie of the account (harmless with none)."""
    accounts.end_session()


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
    return start_session(accounts.change_password(current_principal().user_id, body["current_password"],
                                                  body["new_password"]))


@blp.route("/me")
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Not signed in")
@blp.doc(security=AUTHENTICATED)
def me():
    """The signed-in user (or the API key's owner) and their tier."""
    return users_repo.get(current_principal().user_id)
