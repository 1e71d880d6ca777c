"""Webhook delivery end to end: a loopback receiver verifies every delivery with ``standardwebhooks``.

The embedded worker sends; retries come a fraction of a second apart (``FAST``).
"""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

import storage.webhook_deliveries as deliveries_repo
import storage.webhooks as hooks_repo
from app.webhooks.delivery import JITTER, retry_delay
from app.webhooks.events import EVENT_TYPES, SUBSCRIBABLE
from app.webhooks.service import emit
from app.webhooks.signing import SecretBox, envelope, new_secret
from app.webhooks.transport import MAX_RESPONSE_BYTES, WebhookTransport, _reason
from storage.ids import utcnow
from tests.fakes.webhook_receiver import ENDLESS_SECONDS, Answer, WebhookReceiver
from tests.support.webhooks import (
    FAST,
    create_endpoint,
    finished_delivery,
    format_delivery_log,
    tls_for,
    wait_for,
)

LOOP = EVENT_TYPES["loop.detected"].example


@pytest.fixture
def hooks_app(make_app):
    """An app whose embedded worker delivers, with quick retries and loopback allowed."""
    def make(**overrides):
        return make_app(run_embedded_worker=True, **{**FAST, **overrides})

    return make


def subscribe(app, account, receiver, name: str = "current", **fields) -> dict:
    created = create_endpoint(app.test_client(), account, receiver.url, **fields)
    receiver.secrets[name] = created["secret"]
    return created


def emit_in(app, event_type: str, user_id: str, data: dict) -> str | None:
    with app.app_context():
        return emit(event_type, user_id, data)


def test_a_test_event_arrives_signed(hooks_app, make_account, receiver):
    app, account = hooks_app(), make_account()
    client = app.test_client()
    endpoint = subscribe(app, account, receiver)
    sent = client.post(f"/api/webhooks/{endpoint['id']}/test", headers=account.headers)
    assert sent.status_code == 202
    delivery = finished_delivery(client, account, endpoint["id"], sent.json["delivery_id"])
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 1
    [got] = receiver.received
    assert got.verified_by == ["current"]
    assert got.webhook_id == sent.json["event_id"] and got.webhook_id.startswith("msg_")
    assert got.payload["type"] == "webhook.test"
    assert got.payload["data"]["endpoint_id"] == endpoint["id"]
    assert got.headers["content-type"] == "application/json"
    [attempt] = delivery["attempts"]
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200 and attempt["error"] is None
    assert attempt["latency_ms"] >= 0 and attempt["next_retry_at"] is None
    assert client.delete(f"/api/webhooks/{endpoint['id']}", headers=account.headers).status_code == 204
    gone = client.get(f"/api/webhooks/{endpoint['id']}/deliveries", headers=account.headers)
    assert gone.status_code == 404
    assert [e["id"] for e in client.get("/api/webhooks/events", headers=account.headers).json["data"]] \
        == [sent.json["event_id"]]  # the event stays in the account's list


@pytest.mark.parametrize("event_type", SUBSCRIBABLE)
def test_each_event_type_is_delivered_signed(hooks_app, make_account, receiver, event_type):
    app, account = hooks_app(), make_account()
    subscribe(app, account, receiver, event_types=[event_type])
    example = EVENT_TYPES[event_type].example
    event_id = emit_in(app, event_type, account.user.id, example)
    assert event_id is not None
    [got] = wait_for(lambda: receiver.of_type(event_type), f"a {event_type} delivery")
    assert got.verified_by == ["current"] and got.webhook_id == event_id
    assert set(got.payload) == {"type", "timestamp", "data"}
    assert got.payload["data"] == example and got.payload["timestamp"].endswith("Z")


def test_only_subscribed_types_are_sent_and_emit_is_free_without_listeners(app, make_account):
    account = make_account()
    with app.app_context():
        assert emit("loop.detected", account.user.id, LOOP) is None
        assert hooks_repo.list_events(account.user.id) == []
        with pytest.raises(ValueError, match="unknown webhook event type"):
            emit("loop.detcted", account.user.id, LOOP)
        with pytest.raises(ValueError, match="count"):
            emit("loop.detected", account.user.id, {**LOOP, "count": "many"})
        with pytest.raises(ValueError, match="unknown field"):
            emit("loop.detected", account.user.id, {**LOOP, "extra": 1})
    create_endpoint(app.test_client(), account, "https://93.184.215.14/h", event_types=["budget.exceeded"])
    with app.app_context():
        assert emit("loop.detected", account.user.id, LOOP) is None  # not subscribed
        assert emit("budget.exceeded", account.user.id,
                    EVENT_TYPES["budget.exceeded"].example).startswith("msg_")


def test_after_rotation_old_and_new_secrets_both_verify(hooks_app, make_account, receiver):
    app, account = hooks_app(), make_account()
    client = app.test_client()
    endpoint = subscribe(app, account, receiver, name="old")
    rotated = client.post(f"/api/webhooks/{endpoint['id']}/rotate-secret", headers=account.headers).json
    receiver.secrets["new"] = rotated["secret"]
    sent = client.post(f"/api/webhooks/{endpoint['id']}/test", headers=account.headers).json
    finished_delivery(client, account, endpoint["id"], sent["delivery_id"])
    [got] = receiver.received
    assert got.verified_by == ["old", "new"]
    assert [s[:3] for s in got.headers["webhook-signature"].split(" ")] == ["v1,", "v1,"]
    with app.app_context():
        sealed = hooks_repo.sealed_secrets(endpoint["id"])
    assert len(sealed.active(utcnow() + timedelta(hours=23))) == 2
    assert sealed.active(utcnow() + timedelta(hours=25)) == [sealed.current]  # the old one has expired


def test_retries_carry_the_same_webhook_id_until_a_2xx(hooks_app, make_account, receiver):
    app, account = hooks_app(), make_account()
    client = app.test_client()
    endpoint = subscribe(app, account, receiver)
    receiver.fail_next(2, status=503)
    event_id = emit_in(app, "loop.detected", account.user.id, LOOP)
    delivery = finished_delivery(client, account, endpoint["id"])
    print("\n" + format_delivery_log(delivery))  # the delivery log demo (pytest -s)
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 3
    assert delivery["event_id"] == event_id and delivery["event_type"] == "loop.detected"
    assert [r.webhook_id for r in receiver.received] == [event_id] * 3
    assert all(r.verified_by == ["current"] for r in receiver.received)
    assert [(a["attempt"], a["status_code"]) for a in delivery["attempts"]] == [(3, 200), (2, 503), (1, 503)]
    for failed in delivery["attempts"][1:]:
        assert failed["error"] == "HTTP 503" and failed["next_retry_at"] > failed["started_at"]


def test_a_failed_delivery_can_be_retried_by_hand(hooks_app, make_account, receiver):
    app, account = hooks_app(webhook_retry_schedule=(0.1,)), make_account()
    client = app.test_client()
    endpoint = subscribe(app, account, receiver)
    receiver.fail_next(2, status=500)
    event_id = emit_in(app, "loop.detected", account.user.id, LOOP)
    failed = finished_delivery(client, account, endpoint["id"])
    assert failed["status"] == "failed" and failed["attempt_count"] == 2
    assert failed["attempts"][0]["next_retry_at"] is None and failed["next_attempt_at"] is None
    retried = client.post(f"/api/webhooks/{endpoint['id']}/deliveries/{failed['id']}/retry",
                          headers=account.headers)
    assert retried.status_code == 202 and retried.json["status"] == "pending"
    done = finished_delivery(client, account, endpoint["id"], failed["id"])
    assert done["status"] == "succeeded" and done["attempts"][0]["attempt"] == 3
    assert [r.webhook_id for r in receiver.received] == [event_id] * 3
    missing = client.post(f"/api/webhooks/{endpoint['id']}/deliveries/dlv_nope/retry",
                          headers=account.headers)
    assert missing.status_code == 404


def test_an_endpoint_that_keeps_failing_is_disabled_and_its_owner_told(hooks_app, make_account, receiver):
    app, account = hooks_app(webhook_retry_schedule=(0.1,), webhook_disable_after=2), make_account()
    client = app.test_client()
    dead = WebhookReceiver().start()
    try:
        dead.default = Answer(500)
        watcher = subscribe(app, account, receiver, event_types=["endpoint.disabled"])
        failing = subscribe(app, account, dead, event_types=["quota.threshold_reached"])
        quota = EVENT_TYPES["quota.threshold_reached"].example
        for _ in range(2):
            emit_in(app, "quota.threshold_reached", account.user.id, quota)

        def disabled():
            found = client.get(f"/api/webhooks/{failing['id']}", headers=account.headers).json
            return found if not found["enabled"] else None

        endpoint = wait_for(disabled, "the failing endpoint to be disabled")
        assert "2 deliveries in a row failed after every retry" in endpoint["disabled_reason"]
        assert "HTTP 500" in endpoint["disabled_reason"] and endpoint["disabled_at"]
        assert endpoint["failed_deliveries_in_row"] == 2
        assert len(dead.received) == 4  # two events, two attempts each
        # The endpoint is disabled, then its owner's event stored: a moment apart.
        [notice] = wait_for(lambda: client.get("/api/webhooks/events?type=endpoint.disabled",
                                               headers=account.headers).json["data"],
                            "the endpoint.disabled event to be stored")
        assert notice["data"]["endpoint_id"] == failing["id"]
        [told] = wait_for(lambda: receiver.of_type("endpoint.disabled"), "the owner's other endpoint told")
        assert told.verified_by == ["current"] and told.payload["data"] == notice["data"]
        assert emit_in(app, "quota.threshold_reached", account.user.id, quota) is None  # nobody listens now
        sent = client.post(f"/api/webhooks/{failing['id']}/test", headers=account.headers)
        assert sent.status_code == 409 and sent.json["error"]["code"] == "endpoint_disabled"
        enabled = client.patch(f"/api/webhooks/{failing['id']}", json={"enabled": True},
                               headers=account.headers).json
        assert enabled["enabled"] and enabled["disabled_reason"] is None
        assert enabled["failed_deliveries_in_row"] == 0
        assert watcher["id"] != failing["id"]
    finally:
        dead.stop()


def test_a_delivery_held_by_a_dead_worker_is_taken_back_after_its_lease(make_app, make_account, receiver):
    quick = {**FAST, "webhook_timeout_seconds": 0.5, "webhook_lease_seconds": 1.0}
    web = make_app(**quick)  # no worker yet
    account = make_account()
    endpoint = subscribe(web, account, receiver)
    with web.app_context():
        now = utcnow()
        body = envelope("webhook.test", now, {"endpoint_id": endpoint["id"], "message": "hello"})
        event, [delivery_id] = hooks_repo.create_event(account.user.id, "webhook.test", body, now,
                                                       endpoint_ids=[endpoint["id"]])
        # A worker takes the delivery for its first attempt, and is killed before sending.
        claim = deliveries_repo.begin_attempt(delivery_id, None, now, now + timedelta(seconds=1))
        assert claim.attempt == 1
        assert deliveries_repo.begin_attempt(delivery_id, None, utcnow(), utcnow()) is None  # still held
    worker = make_app(run_embedded_worker=True, **quick)  # a new worker starts
    delivery = finished_delivery(worker.test_client(), account, endpoint["id"], delivery_id)
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 2
    assert delivery["attempts"][1]["error"] == deliveries_repo.ABANDONED
    assert delivery["attempts"][0]["status_code"] == 200
    assert [r.webhook_id for r in receiver.received] == [event.id]


def test_nothing_is_lost_when_redis_loses_the_message(make_app, make_account, receiver, redis_url,
                                                      jobs_namespace):
    import redis

    settings = {**FAST, "redis_url": redis_url, "jobs_namespace": jobs_namespace}
    web = make_app(**settings)  # no worker consumes yet
    account = make_account()
    endpoint = subscribe(web, account, receiver)
    event_id = emit_in(web, "loop.detected", account.user.id, LOOP)
    client = redis.Redis.from_url(redis_url)
    queued = list(client.scan_iter(f"{jobs_namespace}*"))
    assert queued  # the nudge was queued ...
    client.delete(*queued)  # ... and Redis restarted empty
    client.close()
    worker = make_app(run_embedded_worker=True, **settings)
    delivery = finished_delivery(worker.test_client(), account, endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert [r.webhook_id for r in receiver.received] == [event_id]


def test_redirects_are_not_followed(hooks_app, make_account, receiver):
    app, account = hooks_app(webhook_retry_schedule=(0.1,)), make_account()
    client = app.test_client()
    elsewhere = WebhookReceiver().start()
    try:
        receiver.default = Answer(307, headers={"Location": elsewhere.url})
        endpoint = subscribe(app, account, receiver)
        sent = client.post(f"/api/webhooks/{endpoint['id']}/test", headers=account.headers).json
        delivery = finished_delivery(client, account, endpoint["id"], sent["delivery_id"])
        assert delivery["status"] == "failed"
        assert {a["error"] for a in delivery["attempts"]} == {"HTTP 307: redirects are not followed"}
        assert elsewhere.received == []
    finally:
        elsewhere.stop()


def test_an_endless_answer_is_read_only_so_far(hooks_app, make_account, receiver):
    app, account = hooks_app(), make_account()
    client = app.test_client()
    receiver.answer_next(Answer(200, endless=True))
    endpoint = subscribe(app, account, receiver)
    sent = client.post(f"/api/webhooks/{endpoint['id']}/test", headers=account.headers).json
    delivery = finished_delivery(client, account, endpoint["id"], sent["delivery_id"])
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 1


@pytest.mark.parametrize("answer", [Answer(200, endless=True),
                                    Answer(200, endless=True, stall_after=MAX_RESPONSE_BYTES)],
                         ids=["flood", "64-kib-then-silence"])
def test_the_sender_reads_at_most_64_kib_of_an_answer(receiver, answer):
    # A 2xx is a delivery whatever follows it. The sender's timeout is longer than the
    # receiver's endless body, so a sender that read on would see the receiver end it.
    transport = WebhookTransport(allow_private=True, timeout_seconds=ENDLESS_SECONDS + 5)
    receiver.answer_next(answer)
    outcome = transport.post(receiver.url, "{}", {})
    assert (outcome.status_code, outcome.error) == (200, None)
    wait_for(lambda: receiver.received[0].sender_hung_up, "the sender to hang up first")


def test_the_sender_stops_reading_a_trickling_answer_at_its_timeout(receiver):
    # A byte every 50 ms never trips a read timeout: only the sender's own deadline stops it,
    # long before the receiver would end the body.
    transport = WebhookTransport(allow_private=True, timeout_seconds=1)
    receiver.answer_next(Answer(200, endless=True, trickle=0.05))
    outcome = transport.post(receiver.url, "{}", {})
    assert (outcome.status_code, outcome.error) == (200, None)
    wait_for(lambda: receiver.received[0].sender_hung_up, "the sender to hang up first")


def test_a_slow_receiver_times_out_and_is_retried(hooks_app, make_account, receiver):
    app, account = hooks_app(webhook_timeout_seconds=0.5), make_account()
    client = app.test_client()
    receiver.answer_next(Answer(200, hang=1.5))
    endpoint = subscribe(app, account, receiver)
    sent = client.post(f"/api/webhooks/{endpoint['id']}/test", headers=account.headers).json
    delivery = finished_delivery(client, account, endpoint["id"], sent["delivery_id"])
    assert delivery["status"] == "succeeded"
    assert [a["error"] for a in delivery["attempts"]] == [None, "no answer within 0.5 s"]
    assert len({r.webhook_id for r in receiver.received}) == 1


def test_the_address_is_checked_again_at_send_time(hooks_app, make_account, receiver):
    app, account = hooks_app(webhook_allow_private=False, webhook_retry_schedule=(0.1,)), make_account()
    with app.app_context():  # saved when it was allowed (or resolved elsewhere)
        box = SecretBox(app.config["SECRET_KEY"])
        endpoint = hooks_repo.create_endpoint(account.user.id, receiver.url, box.seal(new_secret()))
        emit("loop.detected", account.user.id, LOOP)
    delivery = finished_delivery(app.test_client(), account, endpoint.id)
    assert delivery["status"] == "failed"
    for attempt in delivery["attempts"]:
        assert attempt["error"].startswith("refused: 127.0.0.1 is a loopback address")
        assert attempt["status_code"] is None
    assert receiver.received == []


def test_old_finished_events_are_pruned_and_pending_ones_kept(app, make_account, receiver):
    account = make_account()
    endpoint = create_endpoint(app.test_client(), account, "https://93.184.215.14/h")
    long_ago = utcnow() - timedelta(days=40)
    with app.app_context():
        body = envelope("loop.detected", long_ago, LOOP)
        done, [done_delivery] = hooks_repo.create_event(account.user.id, "loop.detected", body, long_ago)
        waiting, _ = hooks_repo.create_event(account.user.id, "loop.detected", body, long_ago)
        recent, _ = hooks_repo.create_event(account.user.id, "loop.detected", body, utcnow())
        claim = deliveries_repo.begin_attempt(done_delivery, None, utcnow(), utcnow() + timedelta(seconds=9))
        deliveries_repo.finish_attempt(claim, deliveries_repo.Outcome(200, 5, None), None,
                                       exhausted=False, disable_after=5, now=utcnow())
        assert hooks_repo.prune(utcnow() - timedelta(days=30)) == 1
        assert {e.id for e in hooks_repo.list_events(account.user.id)} == {waiting.id, recent.id}
        remaining = deliveries_repo.list_deliveries(account.user.id, endpoint["id"], utcnow())
        assert done_delivery not in {d.id for d in remaining} and len(remaining) == 2


def fake_dns(answers: dict[str, list[str]], calls: list[str]):
    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[host]

    return resolve


def test_the_sender_connects_to_the_address_it_checked(receiver):
    calls: list[str] = []
    resolver = fake_dns({"hooks.example.test": ["127.0.0.1"], "mixed.example.test": ["93.184.215.14",
                                                                                      "127.0.0.1"]}, calls)
    url = f"http://hooks.example.test:{receiver.port}/hooks"
    allowed = WebhookTransport(allow_private=True, timeout_seconds=2, resolver=resolver)
    outcome = allowed.post(url, "{}", {})
    assert outcome.succeeded and calls == ["hooks.example.test"]  # resolved once, then pinned
    assert receiver.received[0].headers["host"] == f"hooks.example.test:{receiver.port}"
    strict = WebhookTransport(allow_private=False, timeout_seconds=2, resolver=resolver)
    refused = strict.post(url, "{}", {})
    assert refused.error == ("refused: hooks.example.test (it resolves to 127.0.0.1) is a loopback "
                             "address; Aqta does not deliver there; an operator can allow private "
                             "addresses with WEBHOOK_ALLOW_PRIVATE=true.")
    mixed = strict.post(f"http://mixed.example.test:{receiver.port}/", "{}", {})
    assert mixed.error.startswith("refused:")  # one bad answer among good ones is enough
    assert len(receiver.received) == 1


def test_a_closed_port_is_a_failed_attempt():
    transport = WebhookTransport(allow_private=True, timeout_seconds=2)
    outcome = transport.post("http://127.0.0.1:1/hooks", "{}", {})
    assert not outcome.succeeded and outcome.status_code is None
    # The innermost cause, as the endpoint's owner can read it: no urllib3 object reprs.
    assert outcome.error == "could not connect: [Errno 111] Connection refused"


def test_a_failures_reason_is_its_innermost_cause_without_object_reprs():
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        assert _reason(exc) == "[Errno 104] Connection reset by peer"
    try:
        try:
            raise TimeoutError("deep")
        except TimeoutError:
            raise RuntimeError("while handling it")  # noqa: B904 (an implicit __context__ on purpose)
    except RuntimeError as exc:
        assert _reason(exc) == "deep"
    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        raise RuntimeError("wrapped outside any handler") from refused  # a cause and no context
    except RuntimeError as exc:
        assert exc.__context__ is None and _reason(exc) == "[Errno 111] Connection refused"
    assert _reason(OSError("<urllib3.connection.HTTPConnection object at 0x7f>: Failed: to connect")) == (
        "Failed: to connect")
    assert _reason(OSError("plain: as it is")) == "plain: as it is"
    assert _reason(OSError("<Pool object at 0x7f>")) == "<Pool object at 0x7f>"  # nothing after it to keep
    assert _reason(OSError("x" * 400)) == "x" * 300
    assert _reason(ConnectionAbortedError()) == "ConnectionAbortedError"


def test_https_is_pinned_with_sni_and_the_certificate_checked_against_the_name(tmp_path):
    context, ca_file = tls_for("hooks.example.test", tmp_path)
    receiver = WebhookReceiver().start(tls=context)
    try:
        calls: list[str] = []
        resolver = fake_dns({"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]},
                            calls)
        transport = WebhookTransport(allow_private=True, timeout_seconds=2, resolver=resolver,
                                     ca_certs=ca_file)
        outcome = transport.post(f"https://hooks.example.test:{receiver.port}/hooks", "{}", {})
        assert outcome.succeeded, outcome
        assert receiver.server_names == ["hooks.example.test"]
        assert receiver.received[0].headers["host"] == f"hooks.example.test:{receiver.port}"
        wrong_name = transport.post(f"https://other.example.test:{receiver.port}/hooks", "{}", {})
        assert wrong_name.error.startswith("TLS error") and "other.example.test" in wrong_name.error
        untrusted = WebhookTransport(allow_private=True, timeout_seconds=2, resolver=resolver)
        assert untrusted.post(f"https://hooks.example.test:{receiver.port}/", "{}", {}).error \
            .startswith("TLS error")
        assert len(receiver.received) == 1
    finally:
        receiver.stop()


@pytest.mark.parametrize("attempt, base", [(1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000),
                                           (6, 36000), (7, 36000), (8, None)])
def test_the_retry_schedule(attempt, base):
    from app.config import Settings

    delay = retry_delay(attempt, Settings.webhook_retry_schedule, random.Random(attempt))
    if base is None:
        assert delay is None
    else:
        assert base * (1 - JITTER) <= delay <= base * (1 + JITTER)
