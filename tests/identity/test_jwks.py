"""Unit tests of the JWKS cache's error paths, with requests-mock standing in for the provider."""
from __future__ import annotations

import pytest
import requests
import requests_mock
from joserfc.jwk import RSAKey

from app.identity.jwks import IdentityProviderUnavailable, JwksCache

URL = "https://idp.example.test/keys"


def public_jwk(kid: str) -> dict:
    return {**RSAKey.generate_key(2048).as_dict(private=False), "kid": kid, "use": "sig"}


@pytest.fixture
def provider():
    """A JwksCache whose session is served by requests-mock."""
    session = requests.Session()
    adapter = requests_mock.Adapter()
    session.mount("https://", adapter)
    return JwksCache("example", URL, ttl=3600, refetch_interval=0, session=session), adapter


@pytest.mark.parametrize("reply", [
    {"status_code": 500, "text": "oops"},
    {"status_code": 200, "text": "<html>not json</html>"},
    {"status_code": 200, "json": {"keys": [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}]}},
    {"status_code": 200, "json": ["not", "a", "key", "set"]},
    {"exc": requests.ConnectTimeout},
])
def test_an_unusable_key_set_is_a_503(provider, reply):
    cache, adapter = provider
    adapter.register_uri("GET", URL, **reply)
    with pytest.raises(IdentityProviderUnavailable) as raised:
        cache.key_for("any")
    assert raised.value.status == 503


def test_known_keys_are_kept_when_a_refresh_fails(provider):
    cache, adapter = provider
    adapter.register_uri("GET", URL, json={"keys": [public_jwk("k1")]})
    assert cache.key_for("k1") is not None
    adapter.register_uri("GET", URL, status_code=502)
    # An unknown kid forces a refetch, which fails: the known key still verifies.
    assert cache.key_for("rotated") is None
    assert cache.key_for("k1") is not None
    assert adapter.call_count == 3


def test_a_rotated_key_is_fetched_at_once(provider):
    cache, adapter = provider
    adapter.register_uri("GET", URL, json={"keys": [public_jwk("k1")]})
    cache.key_for("k1")
    adapter.register_uri("GET", URL, json={"keys": [public_jwk("k1"), public_jwk("k2")]})
    assert cache.key_for("k2") is not None
