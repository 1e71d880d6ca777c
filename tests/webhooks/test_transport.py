"""The webhook sender alone against loopback receivers: what it sends, and what an owner reads of each
failure.

The delivery tests go through the API and the worker; these call the transport
directly, so each answer and each way of failing can be pinned without a worker
in between.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from app.webhooks.transport import USER_AGENT, WebhookTransport, _status_error
from tests.fakes.scripted import ScriptedUpstream, silent_url
from tests.fakes.server import Reply
from tests.fakes.webhook_receiver import Answer


def sender(timeout_seconds: float = 5) -> WebhookTransport:
    return WebhookTransport(allow_private=True, timeout_seconds=timeout_seconds)


def test_the_post_carries_the_body_the_headers_given_and_the_senders_own(receiver):
    outcome = sender().post(receiver.url, '{"type":"webhook.test"}', {"webhook-id": "msg_1"})
    assert (outcome.status_code, outcome.error) == (200, None)
    [got] = receiver.received
    assert got.body == b'{"type":"webhook.test"}' and got.path == "/hooks"
    assert got.headers["webhook-id"] == "msg_1"
    assert got.headers["user-agent"] == USER_AGENT == "Aqta-Webhooks/1.0"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    # Names are read in any case, but sent as documented: the sender's in their usual case,
    # the Standard Webhooks ones in lower case.
    assert {"Host", "Content-Type", "User-Agent", "webhook-id"} <= set(got.names)


@pytest.mark.parametrize(("suffix", "path"), [("", "/"), ("/", "/"), ("/in?team=7&x=%20", "/in?team=7&x=%20"),
                                              ("?only=query", "/?only=query")])
def test_the_path_and_query_of_the_url_are_asked_for(receiver, suffix, path):
    url = f"http://127.0.0.1:{receiver.port}{suffix}"
    assert sender().post(url, "{}", {}).succeeded
    assert receiver.received[0].path == path


def test_the_latency_is_the_attempts_own_in_milliseconds(receiver):
    receiver.answer_next(Answer(200, hang=0.3))
    started = time.monotonic()
    outcome = sender().post(receiver.url, "{}", {})
    elapsed_ms = (time.monotonic() - started) * 1000
    assert 300 <= outcome.latency_ms <= elapsed_ms  # the receiver's wait, within the call's


@pytest.mark.parametrize(("status", "error"), [
    (200, None), (201, None), (204, None), (299, None),
    (300, "HTTP 300: redirects are not followed"), (308, "HTTP 308: redirects are not followed"),
    (399, "HTTP 399: redirects are not followed"), (400, "HTTP 400"), (410, "HTTP 410"), (500, "HTTP 500"),
    (199, "HTTP 199"), (100, "HTTP 100")])
def test_only_a_2xx_is_a_success_and_a_redirect_is_said_to_be_one(status, error):
    assert _status_error(status) == error


def test_a_status_the_receiver_answers_is_recorded_with_its_reason(receiver):
    receiver.answer_next(Answer(299))
    receiver.answer_next(Answer(300))
    assert sender().post(receiver.url, "{}", {}).error is None
    outcome = sender().post(receiver.url, "{}", {})
    assert (outcome.status_code, outcome.error) == (300, "HTTP 300: redirects are not followed")


def test_a_receiver_that_never_accepts_is_a_connect_timeout():
    with silent_url() as url:
        outcome = sender(timeout_seconds=0.5).post(url + "/hooks", "{}", {})
    assert (outcome.status_code, outcome.error) == (None, "timed out connecting after 0.5 s")


@pytest.fixture
def scripted() -> Iterator[ScriptedUpstream]:
    started = ScriptedUpstream().start()
    yield started
    started.stop()


def test_a_receiver_that_hangs_up_without_answering_is_a_failed_connection(scripted):
    scripted.fail_next(drop=True)
    outcome = sender().post(scripted.url + "/hooks", "{}", {})
    assert (outcome.status_code, outcome.error) == (
        None, "connection failed: Remote end closed connection without response")
    scripted.answer_next(Reply({"ok": True}))
    assert sender().post(scripted.url + "/hooks", "{}", {}).succeeded  # the same receiver, answering


@pytest.mark.parametrize("status", [200, 204])
def test_an_empty_answer_ends_the_read_at_once(scripted, status):
    # Reading on past the end of an empty body would spin until the sender's own deadline.
    scripted.answer_next(Reply(b"", status))
    outcome = sender(timeout_seconds=30).post(scripted.url + "/hooks", "{}", {})
    assert (outcome.status_code, outcome.error) == (status, None)
    assert outcome.latency_ms < 15_000  # the answer's end, not the sender's 30 s


def test_a_host_without_addresses_is_said_not_to_resolve_and_nothing_is_sent(receiver):
    transport = WebhookTransport(allow_private=True, timeout_seconds=5, resolver=lambda host, port: [])
    outcome = transport.post(f"http://nowhere.example.test:{receiver.port}/hooks", "{}", {})
    assert (outcome.status_code, outcome.error) == (
        None, "The host nowhere.example.test does not resolve (no addresses); check the URL.")
    assert receiver.received == []
