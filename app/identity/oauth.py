"""OpenID Connect sign-in with Google and Microsoft.

``init_app`` registers each configured provider with authlib's Flask client (the
browser redirect flow) and gives it a signing-key cache. Both flows, a posted ID
token and the redirect, verify with ``app.identity.oidc`` and sign in with ``sign_in``.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import Flask, current_app

import storage.users as users_repo
from app.config import OAuthClient
from app.errors import AqtaError, InvalidRequest
from app.healthcare import audit
from app.identity.jwks import TIMEOUT, JwksCache
from app.identity.oidc import Identity, identity_from_claims, verify_id_token
from app.identity.passwords import verify_password
from app.identity.throttle import check_account, count_failure
from storage.errors import EmailTaken
from storage.records import UserRecord

PROVIDERS = ("google", "microsoft")
SCOPE = "openid email profile"


@dataclass(frozen=True)
class OAuthState:
    """What the app keeps in ``app.extensions["aqta.oauth"]``."""

    registry: OAuth
    clients: dict[str, OAuthClient]  # the enabled providers only
    keys: dict[str, JwksCache]


@dataclass(frozen=True)
class SignIn:
    user: UserRecord
    created: bool  # a new account was made for this identity


class LinkNeedsPassword(AqtaError):
    """An account with the identity's email exists; only its password holder may link to it."""

    status = 409
    code = "account_link_requires_password"


class WrongLinkPassword(AqtaError):
    status = 401
    code = "invalid_credentials"


class _VerifyingApp(FlaskOAuth2App):
    """authlib's Flask client, checking ID tokens with ``app.identity.oidc`` like the posted flow."""

    def parse_id_token(self, token, nonce, claims_options=None, claims_cls=None, leeway=120):
        if "id_token" not in token:
            return None
        return verify_id_token(client_settings(self.name), token["id_token"],
                               _state().keys[self.name], nonce=nonce)


class _Registry(OAuth):
    oauth2_client_cls = _VerifyingApp


def init_app(app: Flask) -> None:
    settings = app.config["AQTA_SETTINGS"]
    clients = {name: client for name, client in settings.oauth.items() if client.enabled}
    registry = _Registry(app)
    session = requests.Session()
    keys = {}
    for name, client in clients.items():
        registry.register(
            name, client_id=client.client_id, client_secret=client.client_secret,
            server_metadata_url=client.metadata_url,
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256",
                           "default_timeout": TIMEOUT})
        keys[name] = JwksCache(name, client.jwks_url, ttl=settings.oauth_jwks_cache_seconds,
                               refetch_interval=settings.oauth_jwks_refetch_seconds,
                               session=session, metadata_url=client.metadata_url)
    app.extensions["aqta.oauth"] = OAuthState(registry, clients, keys)


def _state() -> OAuthState:
    return current_app.extensions["aqta.oauth"]


def enabled_providers() -> list[str]:
    """The identity providers this server is configured to sign in with."""
    return sorted(_state().clients)


def client_settings(provider: str) -> OAuthClient:
    """The settings of an enabled provider; 400 naming ``provider`` otherwise."""
    if provider not in PROVIDERS:
        raise InvalidRequest(f"provider: unknown identity provider {provider!r}; "
                             f"use one of {', '.join(PROVIDERS)}", field="provider")
    client = _state().clients.get(provider)
    if client is None:
        raise InvalidRequest(f"provider: sign-in with {provider} is not enabled on this server",
                             field="provider")
    return client


def remote_app(provider: str) -> FlaskOAuth2App:
    """authlib's client for an enabled provider (for the redirect flow)."""
    client_settings(provider)
    return _state().registry.create_client(provider)


def verify(provider: str, id_token: str, nonce: str | None = None) -> Identity:
    """The identity in a posted ID token, verified against the provider's keys."""
    client = client_settings(provider)
    claims = verify_id_token(client, id_token, _state().keys[provider], nonce=nonce)
    return identity_from_claims(provider, claims)


def sign_in(identity: Identity, *, password: str | None = None,
            signed_in_user_id: str | None = None) -> SignIn:
    """The account for a verified identity: linked, else matched by email, else created.

    An existing account found by email is linked only when its holder shows it is
    theirs: they are signed in to it already, or they give its password. Anyone may
    sign up with an address they do not own, so the address alone proves nothing
    about who holds the account (the takeover this prevents: register the victim's
    address with your own password, wait for the victim to sign in with Google).
    An account without a password was made by a provider's sign-in, whose address
    that provider proved, or by an operator, who vouched for it; it links by email.
    """
    user = users_repo.find_by_identity(identity.provider, identity.subject)
    if user is not None:
        return _signed_in(identity, user, created=False)
    found = users_repo.password_hash_for(identity.email)
    created = found is None
    if created:
        try:
            user = users_repo.create(identity.email, password_hash=None, tier="free")
        except EmailTaken:  # a concurrent sign-in created it first
            found, created = users_repo.password_hash_for(identity.email), False
    if not created:
        user, password_hash = found
        _check_link_allowed(user, password_hash, password, signed_in_user_id)
    users_repo.link_identity(user.id, identity.provider, identity.subject)
    # A concurrent sign-in may have linked this identity first; its account wins.
    linked = users_repo.find_by_identity(identity.provider, identity.subject)
    return _signed_in(identity, linked, created=created and linked.id == user.id)


def _signed_in(identity: Identity, user: UserRecord, created: bool) -> SignIn:
    audit.record(audit.OAUTH_SIGNIN, audit.EXECUTE, account_id=user.id, entity_type=audit.ACCOUNT,
                 entity_id=user.id, detail={"provider": identity.provider, "created": created})
    return SignIn(user, created=created)


def _check_link_allowed(user: UserRecord, password_hash: str | None, password: str | None,
                        signed_in_user_id: str | None) -> None:
    if password_hash is None or signed_in_user_id == user.id:
        return
    if password is None:
        raise LinkNeedsPassword(
            "An account with this email already exists and has a password. To add this sign-in "
            "to it, send its password with the ID token, or sign in with the password first.")
    check_account(user.email)
    if not verify_password(password_hash, password):
        count_failure(user.email)
        raise WrongLinkPassword("The password of the account with this email is wrong.")
