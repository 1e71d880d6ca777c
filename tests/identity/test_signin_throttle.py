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


def test_a_successful_sign_in_carries_no_retry_after(make_app, make_account):
    client = make_app(signin_rate_limit="5/minute").test_client()
    signup = client.post(SIGNUP, json={"email": "new@example.com", "password": PASSWORD})
    assert signup.status_code == 201
    assert "Retry-After" not in signup.headers
    assert signup.headers["X-RateLimit-Remaining"] == "4"
    login = client.post(LOGIN, json={"email": "new@example.com", "password": PASSWORD})
    assert login.status_code == 200 and "Retry-After" not in login.headers


def from_address(n: int) -> dict:
    return {"environ_base": {"REMOTE_ADDR": f"198.51.100.{n}"}}


def test_failed_passwords_are_limited_per_account_from_any_address(make_app, make_account):
    app = make_app(signin_account_failure_limit="3/hour")
    victim, bystander = make_account(), make_account()
    client = app.test_client()
    for n in range(3):
        wrong = client.post(LOGIN, json={"email": victim.user.email, "password": f"Guess {n} abc"},
                            **from_address(n))
        assert wrong.status_code == 401
    right = client.post(LOGIN, json={"email": victim.user.email, "password": PASSWORD},
                        **from_address(9))
    assert right.status_code == 429
    assert right.json["error"]["code"] == "rate_limit_exceeded"
    assert 3000 < int(right.headers["Retry-After"]) <= 3600
    other = client.post(LOGIN, json={"email": bystander.user.email, "password": PASSWORD},
                        **from_address(9))
    assert other.status_code == 200


def test_successes_are_not_counted_as_failures(make_app, make_account):
    app = make_app(signin_account_failure_limit="2/hour")
    account = make_account()
    client = app.test_client()
    for _ in range(4):
        assert client.post(LOGIN, json={"email": account.user.email,
                                        "password": PASSWORD}).status_code == 200


def test_unknown_addresses_are_counted_the_same(make_app, make_account):
    app = make_app(signin_account_failure_limit="2/hour")
    client = app.test_client()
    answers = [client.post(LOGIN, json={"email": "Nobody@Example.com", "password": "Guess 1 abc"})
               for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]


def test_wrong_current_passwords_count_against_the_account(make_app, make_account):
    app = make_app(signin_account_failure_limit="2/hour")
    account = make_account()
    client = app.test_client()
    assert client.post(LOGIN, json={"email": account.user.email, "password": PASSWORD}).status_code == 200
    body = {"current_password": "Guess 1 abc", "new_password": "A brand new one 77"}
    assert [client.post("/api/auth/password", json=body).status_code for _ in range(3)] == \
        [401, 401, 429]


def test_processes_sharing_redis_share_the_failure_count(make_app, make_account, private_redis):
    private_redis.start()
    apps = [make_app(signin_account_failure_limit="2/hour", redis_url=private_redis.url)
            for _ in range(2)]
    account = make_account()
    for app in apps:
        assert app.test_client().post(LOGIN, json={"email": account.user.email,
                                                   "password": "Guess 1 abc"}).status_code == 401
    for app in apps:
        assert app.test_client().post(LOGIN, json={"email": account.user.email,
                                                   "password": PASSWORD}).status_code == 429
