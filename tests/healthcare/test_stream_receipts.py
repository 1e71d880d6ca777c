"""Streams that break upstream or lose their client still get a receipt, of what was delivered."""
from __future__ import annotations

import json

import pytest

from tests.gateway.conftest import _fake_servers, fakes, gateway_settings  # noqa: F401
from tests.healthcare.conftest import MESSAGES

WORDS = " ".join(f"word{i}" for i in range(30))
BODY = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}


@pytest.fixture
def gateway_app(make_app, gateway_settings):  # noqa: F811
    return make_app(providers=gateway_settings.providers)


def events(pieces: list[bytes]) -> list[dict]:
    text = b"".join(pieces).decode()
    return [json.loads(part[6:]) for part in text.split("\n\n") if part.startswith("data: {")]


def delivered_answer(chunks: list[dict]) -> dict:
    """What the client holds: the content of the chunks it received, as one answer."""
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    return {"choices": [{"index": 0, "finish_reason": None, "message": {
        "role": next((d["role"] for d in deltas if d.get("role")), None),
        "content": "".join(d.get("content") or "" for d in deltas)}}]}


def receipt_of(client, account, request_id: str) -> dict:
    listing = client.get("/api/health/receipts", headers=account.headers).get_json()["data"]
    (receipt,) = [r for r in listing if r["request_id"] == request_id]
    return receipt


def commitment_checks(client, account, receipt_id: str, answer: dict) -> dict:
    result = client.post(f"/api/health/receipts/{receipt_id}/verify", headers=account.headers,
                         json={"request": BODY, "answer": answer}).get_json()
    return {c["name"]: c["ok"] for c in result["checks"]}


def test_a_stream_broken_upstream_gets_a_receipt_of_what_was_delivered(gateway_app, healthcare, fakes,  # noqa: F811
                                                                      sequence):
    fakes["openai"].answer(text=WORDS)
    fakes["openai"].error_mid_stream(after=3)
    client = gateway_app.test_client()
    response = client.post("/v1/chat/completions", headers=healthcare.headers, json=BODY)
    received = events([response.get_data()])
    error = received[-1]
    assert error["error"]["code"] == "provider_error"
    receipt_id = error["aqta"]["receipt_id"]  # the error event says which receipt it got
    assert error["aqta"]["request_id"] == response.headers["X-Request-Id"]
    sequence()
    bundle = client.get(f"/api/health/receipts/{receipt_id}", headers=healthcare.headers).get_json()
    assert bundle["status"] == "sequenced"
    assert (bundle["receipt"]["status"], bundle["receipt"]["error_code"]) == ("error", "provider_error")
    got = delivered_answer(received[:-1])
    assert 0 < len(got["choices"][0]["message"]["content"]) < len(WORDS)
    assert all(commitment_checks(client, healthcare, receipt_id, got).values())
    whole = {"choices": [{**got["choices"][0], "message": {"role": "assistant", "content": WORDS},
                          "finish_reason": "stop"}]}
    assert commitment_checks(client, healthcare, receipt_id, whole)["answer_commitment"] is False


def test_a_stream_its_client_abandoned_gets_a_receipt_of_what_was_delivered(gateway_app, healthcare,
                                                                           fakes, sequence):  # noqa: F811
    fakes["openai"].answer(text=WORDS)
    fakes["openai"].chunk_delay = 0.02
    client = gateway_app.test_client()
    response = client.post("/v1/chat/completions", headers=healthcare.headers, json=BODY, buffered=False)
    request_id = response.headers["X-Request-Id"]
    pieces = response.iter_encoded()
    read = [next(pieces) for _ in range(4)]
    response.close()  # the client goes away: the server closes the stream where it stands
    sequence()
    receipt = receipt_of(client, healthcare, request_id)
    assert receipt["status"] == "client_disconnected" and "error_code" not in receipt
    got = delivered_answer(events(read))
    assert 0 < len(got["choices"][0]["message"]["content"]) < len(WORDS)
    checks = commitment_checks(client, healthcare, receipt["id"], got)
    assert all(checks.values()), checks
