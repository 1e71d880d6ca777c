"""Verifying OpenID Connect ID tokens from Google and Microsoft, with joserfc.

Verification is pure apart from the key lookup, which the caller passes in (a
``JwksCache`` in the app, anything with ``key_for(kid)`` in a test). Messages say
what was wrong with the token, never how our checks work inside.

Email rule. Google: ``email_verified`` must be true. Microsoft (Entra ID) has no
``email_verified``: we take ``email``, else ``preferred_username`` when it is an
address, and refuse only when the token says outright that it is unverified
(``email_verified`` or ``xms_edov`` false). The risk: a tenant administrator can
put any unverified address on a user, and linking by email would then hand that
person an existing Aqta account with the address ("nOAuth"). Configure the
``xms_edov`` optional claim in the app registration to have such tokens refused.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

from app.config import OAuthClient
from app.errors import AqtaError
from app.identity.emails import normalise_email

# Asymmetric only: "none" and the HS* family (a shared secret) never verify an ID token.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                      "ES256", "ES384", "ES512")
LEEWAY = 60  # seconds of clock skew tolerated on exp, iat and nbf
TENANT_PLACEHOLDER = "{tenantid}"
MAX_SUBJECT_LENGTH = 255  # characters; what storage keeps of the provider's subject id
_TENANT_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_REGISTRY = JWSRegistry(algorithms=list(ALLOWED_ALGORITHMS), strict_check_header=False)

_CLAIM_PROBLEMS = {
    "iss": "was not issued by the provider's issuer",
    "aud": "was issued for another client (audience)",
    "azp": "was issued for another client (azp)",
    "exp": "has an invalid expiry time",
    "iat": "was issued in the future",
    "nbf": "is not valid yet",
    "sub": "has an invalid subject",
    "tid": "has no valid tenant id (tid)",
}


class InvalidIdToken(AqtaError):
    """The ID token is forged, expired, meant for someone else, or otherwise unusable."""

    status = 401
    code = "invalid_id_token"

    def __init__(self, problem: str):
        super().__init__(f"The ID token {problem}.")


class KeySource(Protocol):
    def key_for(self, kid: str) -> Key | None: ...


@dataclass(frozen=True)
class Identity:
    """Who a verified ID token says the user is."""

    provider: str
    subject: str
    email: str


def verify_id_token(client: OAuthClient, id_token: str, keys: KeySource, *,
                    nonce: str | None = None, now: int | None = None) -> dict[str, Any]:
    """The token's claims, once signature, issuer, audience, times and nonce check out."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        raise InvalidIdToken("is malformed (not a signed JWT)")
    try:
        claims = jwt.decode(id_token, lambda token: _key(token.headers(), keys),
                            registry=_REGISTRY).claims
    except UnsupportedAlgorithmError:
        raise InvalidIdToken("is not signed with an allowed algorithm "
                             f"({', '.join(ALLOWED_ALGORITHMS)})") from None
    except BadSignatureError:
        raise InvalidIdToken("signature does not verify") from None
    except (JoseError, ValueError, TypeError, KeyError):
        raise InvalidIdToken("is malformed") from None
    _check_claims(client, claims, nonce, now)
    return claims


def _key(header: dict[str, Any], keys: KeySource) -> Key:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidIdToken("header names no signing key (kid)")
    key = keys.key_for(kid)
    if key is None:
        raise InvalidIdToken("is signed with a key the provider does not publish")
    return key


def expected_issuer(client: OAuthClient, claims: dict[str, Any]) -> str:
    """The configured issuer, with Microsoft's ``{tenantid}`` filled from the ``tid`` claim."""
    if TENANT_PLACEHOLDER not in client.issuer:
        return client.issuer
    tenant = claims.get("tid")
    if not isinstance(tenant, str) or not _TENANT_ID.fullmatch(tenant):
        raise InvalidIdToken(_CLAIM_PROBLEMS["tid"])
    return client.issuer.replace(TENANT_PLACEHOLDER, tenant)


def _check_claims(client: OAuthClient, claims: dict[str, Any], nonce: str | None,
                  now: int | None) -> None:
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=LEEWAY,
        iss={"essential": True, "value": expected_issuer(client, claims)},
        aud={"essential": True, "value": client.client_id},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True})
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise InvalidIdToken("has expired") from None
    except MissingClaimError as exc:
        raise InvalidIdToken(f"lacks the claim(s) {exc.claim}") from None
    except ClaimError as exc:
        raise InvalidIdToken(_CLAIM_PROBLEMS.get(exc.claim, f"has an invalid {exc.claim!r}")) \
            from None
    # With several audiences the authorized party must be us. With one, azp may name
    # another client of the same project (Google's Android sign-in), so it is not checked.
    if isinstance(claims["aud"], list) and len(claims["aud"]) > 1 \
            and claims.get("azp") != client.client_id:
        raise InvalidIdToken(_CLAIM_PROBLEMS["azp"])
    if nonce is not None:
        found = claims.get("nonce")
        if not isinstance(found, str) or not hmac.compare_digest(found.encode(), nonce.encode()):
            raise InvalidIdToken("nonce does not match this sign-in")


def identity_from_claims(provider: str, claims: dict[str, Any]) -> Identity:
    """The identity in verified claims; refuses an email the provider did not vouch for."""
    if provider == "google":
        if claims.get("email_verified") not in (True, "true"):
            raise InvalidIdToken("carries no verified email address")
        address = claims.get("email")
    else:
        if any(claims.get(name) in (False, "false") for name in ("email_verified", "xms_edov")):
            raise InvalidIdToken("carries no verified email address")
        address = claims.get("email") or claims.get("preferred_username")
    if not isinstance(address, str) or "@" not in address:
        raise InvalidIdToken("carries no email address")
    try:
        email = normalise_email(address)
    except AqtaError:
        raise InvalidIdToken("carries no valid email address") from None
    subject = claims["sub"]
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidIdToken(_CLAIM_PROBLEMS["sub"])
    return Identity(provider, subject, email)
