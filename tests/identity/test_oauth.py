"""Sign-in with Google and Microsoft through HTTP, against loopback OpenID providers."""
import socket
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc.jwk import OctKey

from app.config import ConfigError, settings_from_env
from tests.conftest import PASSWORD
from tests.fakes.oidc_issuer import FakeOidcIssuer, new_key

SIGNIN = "/api/auth/oauth-signin"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


@pytest.fixture(scope="module")
def google_server():
    fake = FakeOidcIssuer(client_id="google-client").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def microsoft_server():
    fake = FakeOidcIssuer(client_id="microsoft-client", tenant_id=TENANT).start()
    yield fake
    fake.stop()


@pytest.fixture
def google(google_server):
    google_server.reset()
    return google_server


@pytest.fixture
def microsoft(microsoft_server):
    microsoft_server.reset()
    microsoft_server.user = {"sub": "ms-user-1", "preferred_username": "Grace@Contoso.example"}
    return microsoft_server


@pytest.fixture
def oauth_app(make_app, google, microsoft):
    return make_app(oauth={"google": google.client("google"),
                           "microsoft": microsoft.client("microsoft")})


@pytest.fixture
def client(oauth_app):
    return oauth_app.test_client()


def jwks_fetches(fake: FakeOidcIssuer) -> int:
    return sum(1 for request in fake.received if request.path == "/jwks")


def signin(client, provider, id_token, **extra):
    return client.post(SIGNIN, json={"provider": provider, "id_token": id_token, **extra})


def assert_invalid_token(response, words):
    assert response.status_code == 401, response.json
    error = response.json["error"]
    assert error["code"] == "invalid_id_token"
    assert error["type"] == "authentication_error"
    assert words in error["message"]


@pytest.mark.parametrize("provider, email", [
    ("google", "ada@example.com"),
    ("microsoft", "grace@contoso.example"),
])
def test_a_valid_token_creates_then_signs_in_the_account(client, request, provider, email):
    fake = request.getfixturevalue(provider)
    first = signin(client, provider, fake.mint())
    assert first.status_code == 200, first.json
    assert first.json["created"] is True
    user = first.json["user"]
    assert user["email"] == email
    assert user["tier"] == "free"
    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json["id"] == user["id"]

    again = signin(client, provider, fake.mint())
    assert again.status_code == 200
    assert again.json["created"] is False
    assert again.json["user"]["id"] == user["id"]


def test_the_account_is_found_by_subject_even_when_the_email_changes(client, google):
    first = signin(client, "google", google.mint()).json["user"]
    again = signin(client, "google", google.mint(email="ada.new@example.com"))
    assert again.json == {"user": first, "created": False}


def test_a_password_account_is_not_linked_by_email_alone(client, google, make_account):
    account = make_account(email="ada@example.com")
    response = signin(client, "google", google.mint(email="Ada@Example.com"))
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "account_link_requires_password"
    assert client.get("/api/auth/me").status_code == 401
    # Linking takes the account's password; afterwards Google alone signs in to it.
    wrong = signin(client, "google", google.mint(email="ada@example.com"), password="Not it 12345")
    assert wrong.status_code == 401
    assert wrong.json["error"]["code"] == "invalid_credentials"
    linked = signin(client, "google", google.mint(email="ada@example.com"), password=PASSWORD)
    assert linked.status_code == 200, linked.json
    assert linked.json == {"user": linked.json["user"], "created": False}
    assert linked.json["user"]["id"] == account.user.id
    client.post("/api/auth/logout")
    again = signin(client, "google", google.mint(email="ada@example.com"))
    assert again.json["user"]["id"] == account.user.id
    login = client.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert login.json["user"]["id"] == account.user.id


def test_a_signed_in_holder_links_without_the_password_again(client, google, make_account):
    account = make_account(email="ada@example.com")
    assert client.post("/api/auth/login", json={"email": "ada@example.com",
                                                "password": PASSWORD}).status_code == 200
    linked = signin(client, "google", google.mint(email="ada@example.com"))
    assert linked.status_code == 200, linked.json
    assert linked.json["user"]["id"] == account.user.id


def test_the_takeover_by_pre_registering_the_victims_email_fails(oauth_app, google):
    attacker = oauth_app.test_client()
    squatted = attacker.post("/api/auth/signup", json={"email": "victim@example.com",
                                                      "password": "Attacker knows 42"})
    assert squatted.status_code == 201
    attackers_id = squatted.json["user"]["id"]
    attacker.post("/api/keys", json={"name": "planted"})

    victim = oauth_app.test_client()
    response = signin(victim, "google", google.mint(sub="victim-google-id",
                                                    email="victim@example.com"))
    assert response.status_code == 409
    assert victim.get("/api/auth/me").status_code == 401
    assert victim.get("/api/keys").status_code == 401
    # Nor can a later sign-in with the same Google identity reach the attacker's account.
    attacker.post("/api/auth/logout")
    assert signin(attacker, "google", google.mint(sub="victim-google-id",
                                                  email="victim@example.com")).status_code == 409
    # The attacker's account holds no Google identity: only the password signs in to it.
    login = attacker.post("/api/auth/login", json={"email": "victim@example.com",
                                                   "password": "Attacker knows 42"})
    assert login.json["user"]["id"] == attackers_id


def test_an_account_made_by_a_provider_links_another_provider_by_email(client, google,
                                                                        microsoft):
    first = signin(client, "google", google.mint(email="grace@contoso.example")).json["user"]
    client.post("/api/auth/logout")
    second = signin(client, "microsoft", microsoft.mint())
    assert second.status_code == 200, second.json
    assert second.json == {"user": first, "created": False}


def test_oauth_sign_in_is_throttled_per_address(make_app, google):
    client = make_app(oauth={"google": google.client("google")},
                      signin_rate_limit="2/minute").test_client()
    assert [signin(client, "google", google.mint()).status_code for _ in range(3)] == \
        [200, 200, 429]
    refused = signin(client, "google", google.mint())
    assert refused.json["error"]["code"] == "rate_limit_exceeded"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    callback = client.get("/api/auth/oauth/google/callback?code=x&state=y")
    assert callback.status_code == 400  # its own count: the state is checked, not refused


def test_wrong_link_passwords_count_against_the_account(make_app, google, make_account):
    client = make_app(oauth={"google": google.client("google")},
                      signin_account_failure_limit="2/hour").test_client()
    make_account(email="ada@example.com")
    answers = [signin(client, "google", google.mint(), password="Guess 1 abc").status_code
               for _ in range(2)]
    assert answers == [401, 401]
    assert signin(client, "google", google.mint(), password=PASSWORD).status_code == 429
    assert client.post("/api/auth/login", json={"email": "ada@example.com",
                                                "password": PASSWORD}).status_code == 429


def test_the_nonce_is_checked_when_given(client, google):
    token = google.mint(nonce="n-0123456789")
    assert signin(client, "google", token, nonce="n-0123456789").status_code == 200
    assert_invalid_token(signin(client, "google", google.mint(), nonce="n-1"), "nonce")


def hs256(fake):
    """A token MACed with a shared secret under the published kid (key confusion)."""
    return fake.mint(key=OctKey.generate_key(256, parameters={"kid": fake.key.kid}), alg="HS256")


@pytest.mark.parametrize("make_token, words", [
    pytest.param(lambda fake: fake.mint(key=new_key(kid=fake.key.kid)), "signature",
                 id="forged-signature"),
    pytest.param(lambda fake: fake.mint()[:-10], "signature", id="truncated-signature"),
    pytest.param(lambda fake: fake.mint(key=new_key()), "key the provider does not publish",
                 id="unpublished-key"),
    pytest.param(lambda fake: fake.unsigned(), "algorithm", id="alg-none"),
    pytest.param(hs256, "algorithm", id="alg-hs256"),
    pytest.param(lambda fake: fake.mint(exp=1_000_000_000, iat=999_999_000), "expired",
                 id="expired"),
    pytest.param(lambda fake: fake.mint(iat=2_000_000_000, exp=2_000_000_600), "future",
                 id="issued-in-future"),
    pytest.param(lambda fake: fake.mint(nbf=2_000_000_000), "not valid yet", id="not-yet-valid"),
    pytest.param(lambda fake: fake.mint(aud="someone-else"), "another client",
                 id="wrong-audience"),
    pytest.param(lambda fake: fake.mint(aud=["someone-else", fake.client_id]), "another client",
                 id="several-audiences-no-azp"),
    pytest.param(lambda fake: fake.mint(iss="https://evil.example"), "issuer", id="wrong-issuer"),
    pytest.param(lambda fake: fake.mint(exp=None), "lacks the claim(s) exp", id="no-exp"),
    pytest.param(lambda fake: fake.mint(sub=None), "lacks the claim(s) sub", id="no-sub"),
    pytest.param(lambda fake: fake.mint(email_verified=False), "no verified email",
                 id="email-unverified"),
    pytest.param(lambda fake: fake.mint(email_verified=None), "no verified email",
                 id="email-verified-missing"),
    pytest.param(lambda fake: fake.mint(email=None), "no email", id="no-email"),
    pytest.param(lambda fake: "not-a-jwt", "malformed", id="not-a-jwt"),
    pytest.param(lambda fake: "a.b.c", "malformed", id="garbage-jwt"),
])
def test_a_bad_google_token_is_refused(client, google, make_token, words):
    assert_invalid_token(signin(client, "google", make_token(google)), words)
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize("overrides, words", [
    # iss names our tenant while tid names another: the two must agree
    ({"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}, "issuer"),
    ({"tid": "../evil"}, "tenant"),
    ({"tid": None}, "tenant"),
    ({"email_verified": False}, "no verified email"),
    ({"xms_edov": False}, "no verified email"),
    ({"preferred_username": "not an address"}, "no email"),
])
def test_a_bad_microsoft_token_is_refused(client, microsoft, overrides, words):
    assert_invalid_token(signin(client, "microsoft", microsoft.mint(**overrides)), words)


def test_microsoft_prefers_the_email_claim(client, microsoft):
    response = signin(client, "microsoft", microsoft.mint(email="grace.h@contoso.example"))
    assert response.json["user"]["email"] == "grace.h@contoso.example"


def test_a_token_from_one_provider_does_not_work_for_the_other(client, google):
    assert_invalid_token(signin(client, "microsoft", google.mint()), "key the provider")


@pytest.mark.parametrize("body, message", [
    ({"provider": "github", "id_token": "x.y.z"}, "unknown identity provider"),
    ({"provider": "microsoft", "id_token": "x.y.z"}, "not enabled"),
    ({"id_token": "x.y.z"}, "provider"),
    ({"provider": "google"}, "id_token"),
])
def test_unknown_or_disabled_provider_is_a_bad_request(make_app, google, body, message):
    client = make_app(oauth={"google": google.client("google")}).test_client()
    response = client.post(SIGNIN, json=body)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_request"
    assert error["param"] in ("provider", "id_token")
    assert message in error["message"]


def test_rotated_keys_are_fetched_again(client, google):
    assert signin(client, "google", google.mint()).status_code == 200
    assert jwks_fetches(google) == 1
    google.rotate()
    response = signin(client, "google", google.mint())
    assert response.status_code == 200
    assert jwks_fetches(google) == 2
    assert signin(client, "google", google.mint()).status_code == 200
    assert jwks_fetches(google) == 2  # cached again


def test_unknown_kids_refetch_at_most_once_per_interval(client, google):
    assert signin(client, "google", google.mint()).status_code == 200
    for _ in range(3):
        assert_invalid_token(signin(client, "google", google.mint(key=new_key())),
                             "key the provider does not publish")
    assert jwks_fetches(google) == 2


def test_an_unknown_kid_on_a_cold_cache_fetches_once(client, google):
    assert_invalid_token(signin(client, "google", google.mint(key=new_key())), "does not publish")
    assert jwks_fetches(google) == 1


def test_keys_are_fetched_again_after_the_cache_expires(make_app, google):
    client = make_app(oauth={"google": google.client("google")},
                      oauth_jwks_cache_seconds=0).test_client()
    signin(client, "google", google.mint())
    signin(client, "google", google.mint())
    assert jwks_fetches(google) == 2


def test_known_keys_are_kept_while_the_provider_is_down(make_app, google):
    client = make_app(oauth={"google": google.client("google")},
                      oauth_jwks_cache_seconds=0).test_client()
    assert signin(client, "google", google.mint()).status_code == 200
    google.fail_next(status=500)
    assert signin(client, "google", google.mint()).status_code == 200
    assert jwks_fetches(google) == 2


def test_unreachable_keys_are_a_503(client, google):
    google.fail_next(status=500)
    response = signin(client, "google", google.mint())
    assert response.status_code == 503
    assert response.json["error"]["code"] == "identity_provider_unavailable"
    assert "google" in response.json["error"]["message"]
    assert signin(client, "google", google.mint()).status_code == 200  # recovers


# -- the browser redirect flow --------------------------------------------------

def start_login(client, provider, fake):
    """Our login redirect, then the fake provider's authorize redirect back to us."""
    login = client.get(f"/api/auth/oauth/{provider}/login")
    assert login.status_code == 302
    location = login.headers["Location"]
    assert location.startswith(f"{fake.url}/authorize?")
    asked = parse_qs(urlsplit(location).query)
    assert asked["scope"] == ["openid email profile"]
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["state"] and asked["nonce"]
    back = requests.get(location, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    assert callback.path == f"/api/auth/oauth/{provider}/callback"
    return callback


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_the_redirect_flow_signs_in(client, request, provider):
    fake = request.getfixturevalue(provider)
    callback = start_login(client, provider, fake)
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302, done.json
    assert done.headers["Location"] == "/dashboard"  # the dashboard's overview, by default
    assert client.get("/dashboard").status_code == 200
    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json["email"] in ("ada@example.com", "grace@contoso.example")
    # The code and state are spent: replaying the callback fails.
    replay = client.get(f"{callback.path}?{callback.query}")
    assert replay.status_code == 400
    assert replay.json["error"]["code"] == "invalid_oauth_state"


def test_the_redirect_flow_links_a_password_account_only_for_its_signed_in_holder(
        client, google, make_account):
    account = make_account(email="ada@example.com")
    callback = start_login(client, "google", google)
    refused = client.get(f"{callback.path}?{callback.query}")
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "account_link_requires_password"
    assert client.get("/api/auth/me").status_code == 401
    client.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    callback = start_login(client, "google", google)
    assert client.get(f"{callback.path}?{callback.query}").status_code == 302
    client.post("/api/auth/logout")
    assert signin(client, "google", google.mint()).json["user"]["id"] == account.user.id


def test_the_redirect_lands_on_the_configured_page(make_app, google):
    client = make_app(oauth={"google": google.client("google")},
                      oauth_after_login_url="/dashboard/usage").test_client()
    callback = start_login(client, "google", google)
    assert client.get(f"{callback.path}?{callback.query}").headers["Location"] == "/dashboard/usage"


def test_a_tampered_state_is_refused(client, google):
    callback = start_login(client, "google", google)
    query = parse_qs(callback.query)
    query["state"] = ["forged-" + query["state"][0]]
    response = client.get(callback.path, query_string={k: v[0] for k, v in query.items()})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_oauth_state"
    assert client.get("/api/auth/me").status_code == 401


def test_a_callback_from_another_browser_is_refused(oauth_app, google):
    callback = start_login(oauth_app.test_client(), "google", google)
    stranger = oauth_app.test_client()
    response = stranger.get(f"{callback.path}?{callback.query}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_oauth_state"


def test_a_wrong_nonce_in_the_redirect_flow_is_refused(client, google):
    google.token_claims = {"nonce": "not-the-one-we-sent"}
    callback = start_login(client, "google", google)
    assert_invalid_token(client.get(f"{callback.path}?{callback.query}"), "nonce")
    assert client.get("/api/auth/me").status_code == 401


def test_a_refusal_by_the_provider_is_a_401(client, google):
    response = client.get("/api/auth/oauth/google/callback?error=access_denied&state=x")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "oauth_failed"
    assert "access_denied" in response.json["error"]["message"]


def test_an_unknown_provider_login_is_a_bad_request(client):
    response = client.get("/api/auth/oauth/github/login")
    assert response.status_code == 400
    assert response.json["error"]["param"] == "provider"


def test_an_unreachable_provider_login_is_a_503(make_app, google):
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings = replace(google.client("google"),
                       metadata_url=f"http://127.0.0.1:{port}/.well-known/openid-configuration")
    client = make_app(oauth={"google": settings}).test_client()
    response = client.get("/api/auth/oauth/google/login")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "identity_provider_unavailable"


def test_the_routes_are_documented(client):
    spec = client.get("/openapi.json").json
    signin_doc = spec["paths"][SIGNIN]["post"]
    assert {"200", "400", "401", "503"} <= set(signin_doc["responses"])
    assert "/api/auth/oauth/{provider}/login" in spec["paths"]
    assert "/api/auth/oauth/{provider}/callback" in spec["paths"]


@pytest.mark.parametrize("url, ok", [
    ("/dashboard", True),
    ("https://app.example.com/welcome", True),
    ("//evil.example/", False),
    ("javascript:alert(1)", False),
    ("dashboard", False),
])
def test_the_after_login_url_must_be_a_path_or_http_url(url, ok):
    env = {"SECRET_KEY": "k" * 32, "OAUTH_AFTER_LOGIN_URL": url}
    if ok:
        assert settings_from_env(env).oauth_after_login_url == url
    else:
        with pytest.raises(ConfigError, match="OAUTH_AFTER_LOGIN_URL"):
            settings_from_env(env)


def test_with_only_the_issuer_set_every_endpoint_comes_from_its_discovery_document(make_app, google):
    """GOOGLE_ISSUER alone (a test issuer): its keys, authorize and token endpoints, not Google's."""
    env = {"GOOGLE_CLIENT_ID": google.client_id, "GOOGLE_CLIENT_SECRET": google.client_secret,
           "GOOGLE_ISSUER": google.url, "SECRET_KEY": "test-secret-key-0123456789abcdef"}
    client = make_app(oauth=settings_from_env(env).oauth).test_client()
    assert signin(client, "google", google.mint()).status_code == 200, "the posted ID token"
    callback = start_login(client, "google", google)
    assert client.get(f"{callback.path}?{callback.query}").status_code == 302, "the redirect flow"
    asked = [request.path for request in google.received]
    assert asked[:2] == ["/.well-known/openid-configuration", "/jwks"]
    assert "/token" in asked


def test_a_discovery_document_without_keys_is_a_503(make_app, google):
    google.discovery_overrides = {"jwks_uri": None}
    client = make_app(oauth={"google": replace(google.client("google"), jwks_url=None)}).test_client()
    response = signin(client, "google", google.mint())
    assert response.status_code == 503
    assert response.json["error"]["code"] == "identity_provider_unavailable"
