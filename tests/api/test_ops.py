"""Health and readiness probes."""
import time


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok"}


def test_readyz_checks_redis_when_configured(make_app, redis_url):
    response = make_app(redis_url=redis_url).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_fails_when_redis_is_unreachable(make_app):
    # Port 1 on loopback refuses connections at once.
    response = make_app(redis_url="redis://127.0.0.1:1/0").test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "not_ready"
    assert "redis" in response.json["error"]["message"]


def test_readyz_answers_within_a_second_when_redis_stalls(make_app, private_redis):
    private_redis.start()
    client = make_app(redis_url=private_redis.url).test_client()
    assert client.get("/readyz").status_code == 200
    private_redis.pause()
    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json["error"]["code"] == "not_ready"
    assert elapsed < 1.0
