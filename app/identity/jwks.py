"""Identity providers' signing keys (JWKS), fetched over HTTP and cached in process.

Where the keys are is read once from the provider's discovery document
(``jwks_uri``), unless configured outright. Keys are trusted for a TTL. A token
signed with an unknown ``kid`` means the provider rotated its keys, so the set is
fetched again at once, but at most once per refetch interval: tokens with made-up
kids cannot make us hammer the provider.
"""
from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit

import requests
from joserfc.errors import JoseError
from joserfc.jwk import Key, import_key

from app.errors import ServiceUnavailable

log = logging.getLogger(__name__)

TIMEOUT = (3.05, 10)  # seconds: connect, read
ASYMMETRIC_KEY_TYPES = ("RSA", "EC")  # a shared secret ("oct") never verifies an ID token


class IdentityProviderUnavailable(ServiceUnavailable):
    """The identity provider's keys (or endpoints) cannot be reached right now."""

    code = "identity_provider_unavailable"


class JwksCache:
    """One provider's public signing keys by ``kid``, refreshed on expiry and on rotation."""

    def __init__(self, provider: str, url: str | None, *, ttl: float, refetch_interval: float,
                 session: requests.Session, metadata_url: str | None = None):
        self.provider = provider
        self.url = url  # None until read from the discovery document at metadata_url
        self.metadata_url = metadata_url
        self._ttl = ttl  # seconds
        self._refetch_interval = refetch_interval  # seconds
        self._session = session
        self._keys: dict[str, Key] = {}
        self._expires_at = float("-inf")
        self._forced_at = float("-inf")
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> Key | None:
        """The key with this id, or None when the provider (still) does not publish it."""
        with self._lock:
            now = time.monotonic()
            refreshed = now >= self._expires_at
            if refreshed:
                self._refresh(now)
            if kid not in self._keys and not refreshed \
                    and now - self._forced_at >= self._refetch_interval:
                self._forced_at = now
                self._refresh(now)
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        try:
            self._keys = self._fetch()
            self._expires_at = now + self._ttl
        except IdentityProviderUnavailable:
            if not self._keys:
                raise
            # Keep serving the keys we have; try again after the refetch interval.
            log.warning("keeping stale %s signing keys; refresh failed", self.provider)
            self._expires_at = now + self._refetch_interval

    def _unavailable(self) -> IdentityProviderUnavailable:
        return IdentityProviderUnavailable(
            f"Cannot fetch {self.provider}'s signing keys; try again shortly.")

    def _get_json(self, url: str, what: str):
        try:
            response = self._session.get(url, timeout=TIMEOUT)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("fetching %s %s from %s failed: %s", self.provider, what, url, exc)
            raise self._unavailable() from None

    def _keys_url(self) -> str:
        """The configured JWKS URL, else the ``jwks_uri`` the issuer's discovery document names."""
        if self.url is None:
            document = self._get_json(self.metadata_url, "discovery document")
            found = document.get("jwks_uri") if isinstance(document, dict) else None
            if not isinstance(found, str) or urlsplit(found).scheme not in ("https", "http"):
                log.warning("%s discovery document at %s names no jwks_uri", self.provider,
                            self.metadata_url)
                raise self._unavailable()
            self.url = found
        return self.url

    def _fetch(self) -> dict[str, Key]:
        url = self._keys_url()
        document = self._get_json(url, "JWKS")
        keys = {}
        for data in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(data, dict) or data.get("kty") not in ASYMMETRIC_KEY_TYPES \
                    or not data.get("kid") or data.get("use", "sig") != "sig":
                continue
            try:
                keys[data["kid"]] = import_key(data)
            except (JoseError, ValueError, TypeError):
                continue  # a key type we do not use; RFC 7517 says skip it
        if not keys:
            log.warning("%s JWKS at %s holds no usable signing key", self.provider, url)
            raise self._unavailable()
        return keys
