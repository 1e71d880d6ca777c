"""A loopback OpenID Connect provider: discovery, JWKS, authorize and token endpoints.

It signs RS256 ID tokens with its own RSA key and speaks the authorization-code
flow with PKCE, so authlib's real client can sign in against it. ``mint`` makes
any token a test needs (claims overridden or dropped, another key, ``alg: none``).
With ``tenant_id`` it behaves like Microsoft's multi-tenant endpoint: the issuer
carries the tenant, and ``configured_issuer`` holds the ``{tenantid}`` template.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey

from app.config import OAuthClient
from tests.fakes.server import FakeUpstream, Received, Reply


def new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(4), "use": "sig"})


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class FakeOidcIssuer(FakeUpstream):
    def __init__(self, client_id: str = "aqta-client", client_secret: str = "s3cret",
                 tenant_id: str | None = None):
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenant_id = tenant_id
        self._first_key = new_key()
        self.reset()

    def reset(self) -> None:
        """Forget requests, codes, rotations and overrides: as new, same port and first key."""
        super().reset()
        self.key = self._first_key
        self.published: list[RSAKey] = [self.key]
        self.user: dict[str, Any] = {"sub": "user-1", "email": "ada@example.com"}
        self.token_claims: dict[str, Any] = {}  # overrides for tokens the token endpoint mints
        self.discovery_overrides: dict[str, Any] = {}  # fields of the discovery document (None: left out)
        self._codes: dict[str, dict[str, Any]] = {}

    # -- what tests call ------------------------------------------------------
    @property
    def issuer(self) -> str:
        return f"{self.url}/{self.tenant_id}/v2.0" if self.tenant_id else self.url

    @property
    def configured_issuer(self) -> str:
        return f"{self.url}/{{tenantid}}/v2.0" if self.tenant_id else self.url

    def client(self, name: str) -> OAuthClient:
        """Aqta's settings for a provider that is this fake."""
        return OAuthClient(name, self.client_id, self.client_secret, self.configured_issuer,
                           f"{self.url}/jwks", f"{self.url}/.well-known/openid-configuration")

    def rotate(self) -> RSAKey:
        """Sign with a new key from now on, published alone (the old one is retired)."""
        self.key = new_key()
        self.published = [self.key]
        return self.key

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 600,
                  **self.user}
        if self.tenant_id:
            claims["tid"] = self.tenant_id
        else:
            claims["email_verified"] = True
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(self, *, key: RSAKey | None = None, kid: str | None = None, alg: str = "RS256",
             **overrides: Any) -> str:
        """An ID token for ``self.user``; a claim set to None is left out."""
        key = key or self.key
        header = {"alg": alg, "kid": kid or key.kid, "typ": "JWT"}
        return jwt.encode(header, self.claims(**overrides), key, algorithms=[alg])

    def unsigned(self, **overrides: Any) -> str:
        """A token with ``alg: none`` and an empty signature."""
        return f"{_b64({'alg': 'none', 'kid': self.key.kid})}.{_b64(self.claims(**overrides))}."

    def discovery(self) -> dict[str, Any]:
        """The OpenID Connect discovery document, with ``discovery_overrides`` applied."""
        document = {"issuer": self.configured_issuer,
                    "authorization_endpoint": f"{self.url}/authorize",
                    "token_endpoint": f"{self.url}/token",
                    "jwks_uri": f"{self.url}/jwks",
                    "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    **self.discovery_overrides}
        return {name: value for name, value in document.items() if value is not None}

    # -- the provider's endpoints ----------------------------------------------
    def handle(self, request: Received) -> Reply:
        if request.path == "/.well-known/openid-configuration":
            return Reply(self.discovery())
        if request.path == "/jwks":
            return Reply({"keys": [key.as_dict(private=False) for key in self.published]})
        if request.path == "/authorize":
            return self._authorize({name: values[0] for name, values in request.query.items()})
        if request.path == "/token":
            return self._token(request)
        return Reply({"error": "not_found"}, 404)

    def _authorize(self, query: dict[str, str]) -> Reply:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return Reply({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = query
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return Reply({}, 302, {"Location": location})

    def _token(self, request: Received) -> Reply:
        form = {name: values[0] for name, values in parse_qs(request.body or "").items()}
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Reply({"error": "invalid_client"}, 401)
        asked = self._codes.pop(form.get("code", ""), None)
        if asked is None or form.get("redirect_uri") != asked["redirect_uri"] \
                or not _pkce_matches(form.get("code_verifier", ""), asked.get("code_challenge")):
            return Reply({"error": "invalid_grant"}, 400)
        id_token = self.mint(**{"nonce": asked.get("nonce"), **self.token_claims})
        return Reply({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                      "expires_in": 3600, "scope": asked.get("scope"), "id_token": id_token})


def _pkce_matches(verifier: str, challenge: str | None) -> bool:
    digest = hashlib.sha256(verifier.encode()).digest()
    return challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
