"""Accounts: sign up and log in with email and password, log out, and who am I."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

import storage.users as users_repo
from app import accounts
from app.api.schemas import AUTHENTICATED, UserSchema
from app.authn import current_principal

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Accounts and sessions")


class CredentialsSchema(Schema):
    email = fields.String(required=True, metadata={"example": "ada@example.com"})
    password = fields.String(required=True, load_only=True,
                             metadata={"example": "correct horse battery 9"})


class SessionSchema(Schema):
    user = fields.Nested(UserSchema, required=True)


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
    """End the session (harmless when there is none)."""
    accounts.end_session()


@blp.route("/me")
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Not signed in")
@blp.doc(security=AUTHENTICATED)
def me():
    """The signed-in user (or the API key's owner) and their tier."""
    return users_repo.get(current_principal().user_id)
