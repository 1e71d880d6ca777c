"""Password sign-in throttling per client address (flask-limiter), in process and on Redis."""
from __future__ import annotations

from tests.conftest import PASSWORD

LOGIN, SIGNUP = "/api/auth/login", "/api/auth/signup"


def test_attempts_past_the_limit_are_refused_even_with_the_right_password(make_app, make_account):
    app = make_app(signin_rate_limit="3/minute")
    account = make_account(tier="free")
    client = app.test_client()
    for _ in range(3):
        assert client.post(LOGIN, json={"email": account.user.email, "password": "wrong"}).status_code == 401
    refused = client.post(LOGIN, json={"email": account.user.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limit_exceeded"
    assert refused.json["error"]["type"] == "rate_limit_error"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"



def test_sign_ups_have_their_own_count(make_app):
    client = make_app(signin_rate_limit="1/minute").test_client()
    assert client.post(LOGIN, json={"email": "nobody@example.com", "password": "x"}).status_code == 401
    body = {"email": "new@example.com", "password": "correct horse battery 9"}
    assert client.post(SIGNUP, json=body).status_code == 201
    assert client.post(SIGNUP, json={**body, "email": "other@example.com"}).status_code == 429


def test_other_addresses_are_not_throttled(make_app, make_account):
    app = make_app(signin_rate_limit="1/minute")
    account = make_account(tier="free")
    client = app.test_client()
    body = {"email": account.user.email, "password": PASSWORD}
    assert client.post(LOGIN, json=body).status_code == 200
    assert client.post(LOGIN, json=body).status_code == 429
    other = client.post(LOGIN, json=body, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200


def test_processes_sharing_redis_share_the_count(make_app, make_account, private_redis):
    private_redis.start()
    first = make_app(signin_rate_limit="2/minute", redis_url=private_redis.url)
    second = make_app(signin_rate_limit="2/minute", redis_url=private_redis.url)
    account = make_account(tier="free")
    body = {"email": account.user.email, "password": PASSWORD}
    assert first.test_client().post(LOGIN, json=body).status_code == 200
    assert second.test_client().post(LOGIN, json=body).status_code == 200
    assert first.test_client().post(LOGIN, json=body).status_code == 429
    assert second.test_client().post(LOGIN, json=body).status_code == 429
