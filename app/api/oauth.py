"""Sign-in with Google and Microsoft: a posted ID token, or the browser redirect flow."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import OAuthError
from flask import current_app, redirect, url_for
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import SessionSchema, start_session
from app.api.schemas import ErrorSchema
from app.errors import AqtaError
from app.identity import oauth
from app.identity.jwks import IdentityProviderUnavailable
from app.identity.oidc import InvalidIdToken, identity_from_claims
from app.identity.throttle import throttle_signin

blp = Blueprint("oauth", __name__, url_prefix="/api/auth",
                description="Sign-in with Google and Microsoft (OpenID Connect)")


class InvalidOAuthState(AqtaError):
    """The callback's state is not one this browser session started (forged or replayed)."""

    status = 400
    code = "invalid_oauth_state"


class OAuthRefused(AqtaError):
    """The provider refused the sign-in or the code exchange."""

    status = 401
    code = "oauth_failed"


class OAuthSigninSchema(Schema):
    provider = fields.String(required=True, metadata={"enum": list(oauth.PROVIDERS),
                                                      "example": "google"})
    id_token = fields.String(required=True, load_only=True,
                             metadata={"description": "The OpenID Connect ID token (a JWT)"})
    nonce = fields.String(load_default=None, metadata={
        "description": "The nonce the client put in its authentication request; "
                       "checked against the token's when given"})
    password = fields.String(load_default=None, load_only=True, metadata={
        "description": "The password of an existing account with the token's email: needed "
                       "once, to add this sign-in to it (unless signed in to it already)"})


class OAuthSessionSchema(SessionSchema):
    created = fields.Boolean(required=True, metadata={
        "description": "A new account was created for this identity"})


PROVIDER_PARAMETER = {"in": "path", "name": "provider", "required": True,
                      "schema": {"type": "string", "enum": list(oauth.PROVIDERS)}}

_UNAVAILABLE = {"schema": ErrorSchema,
                "description": "The provider's keys or endpoints cannot be reached "
                               "(identity_provider_unavailable)"}


@blp.route("/oauth-signin", methods=["POST"])
@blp.arguments(OAuthSigninSchema)
@blp.response(200, OAuthSessionSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Unknown or disabled provider")
@blp.alt_response(401, schema=ErrorSchema,
                  description="The ID token is forged, expired, for another client or issuer, "
                              "has the wrong nonce or no verified email (invalid_id_token); "
                              "the password given to link an account is wrong "
                              "(invalid_credentials)")
@blp.alt_response(409, schema=ErrorSchema,
                  description="An account with the token's email has a password: send it to "
                              "link this sign-in (account_link_requires_password)")
@blp.alt_response(429, schema=ErrorSchema, description="Too many sign-in attempts")
@blp.alt_response(503, **_UNAVAILABLE)
def oauth_signin(body):
    """Sign in with an ID token from Google or Microsoft; sets the session cookie.

    The account is found by the provider's subject, else created; an existing account
    with the same email is linked only for its holder (signed in, or giving its password).
    """
    throttle_signin()
    identity = oauth.verify(body["provider"], body["id_token"], body["nonce"])
    result = oauth.sign_in(identity, password=body["password"],
                           signed_in_user_id=_signed_in_user_id())
    return {**start_session(result.user), "created": result.created}


@blp.route("/oauth/<provider>/login", parameters=[PROVIDER_PARAMETER])
@blp.alt_response(302, success=True, description="Redirect to the provider's sign-in page",
                  headers={"Location": {"schema": {"type": "string"}}})
@blp.alt_response(400, schema=ErrorSchema, description="Unknown or disabled provider")
@blp.alt_response(503, **_UNAVAILABLE)
def oauth_login(provider: str):
    """Start the browser sign-in: redirect to the provider with a fresh state and nonce."""
    remote = oauth.remote_app(provider)
    callback = url_for("oauth.oauth_callback", provider=provider, _external=True)
    with _provider_errors(provider):
        return remote.authorize_redirect(callback)


@blp.route("/oauth/<provider>/callback", parameters=[PROVIDER_PARAMETER])
@blp.alt_response(302, success=True, description="Signed in; redirect to the after-login page",
                  headers={"Location": {"schema": {"type": "string"}}})
@blp.alt_response(400, schema=ErrorSchema,
                  description="Unknown provider, or a state this browser did not start")
@blp.alt_response(401, schema=ErrorSchema,
                  description="The provider refused, or its ID token is invalid")
@blp.alt_response(409, schema=ErrorSchema,
                  description="An account with this email has a password: sign in with it "
                              "first, then again with the provider, to link them "
                              "(account_link_requires_password)")
@blp.alt_response(429, schema=ErrorSchema, description="Too many sign-in attempts")
@blp.alt_response(503, **_UNAVAILABLE)
def oauth_callback(provider: str):
    """Finish the browser sign-in: check state, exchange the code, verify the ID token."""
    throttle_signin()
    remote = oauth.remote_app(provider)
    with _provider_errors(provider):
        token = remote.authorize_access_token()
    claims = token.get("userinfo")
    if not claims:
        raise InvalidIdToken("is missing from the provider's answer")
    result = oauth.sign_in(identity_from_claims(provider, claims),
                           signed_in_user_id=_signed_in_user_id())
    start_session(result.user)
    return redirect(current_app.config["AQTA_SETTINGS"].oauth_after_login_url)


def _signed_in_user_id() -> str | None:
    """The account this browser is signed in to by session cookie, if any."""
    return current_user.get_id() if current_user.is_authenticated else None


@contextmanager
def _provider_errors(provider: str) -> Iterator[None]:
    """Turn authlib's and requests' errors in the redirect flow into Aqta's."""
    try:
        yield
    except MismatchingStateError:
        raise InvalidOAuthState("The sign-in state does not match this browser session; "
                                "start the sign-in again.") from None
    except OAuthError as exc:
        reason = str(exc.error or "error")[:64]
        raise OAuthRefused(f"{provider} refused the sign-in ({reason}).") from None
    except requests.RequestException:
        raise IdentityProviderUnavailable(
            f"Cannot reach {provider}'s sign-in service; try again shortly.") from None
