"""Canonical leaf bytes and keyed commitments."""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.healthcare import commitments
from app.healthcare.leaves import LeafError, leaf_bytes, parse_leaf, parse_timestamp, timestamp


def _leaf(**extra) -> dict:
    return {"leaf_type": "receipt", "v": 1, "id": "rcpt_x", "cost_eur": "0.00001000", **extra}


def test_leaf_bytes_are_sorted_compact_utf8():
    assert leaf_bytes(_leaf(model="gpt-4o", note="é")) == (
        '{"cost_eur":"0.00001000","id":"rcpt_x","leaf_type":"receipt","model":"gpt-4o",'
        '"note":"é","v":1}').encode()


def test_leaf_bytes_round_trip_and_reject_non_canonical_forms():
    data = leaf_bytes(_leaf())
    assert parse_leaf(data) == _leaf()
    for other in (data.replace(b",", b", "), b'{"v":1,' + data[1:-7] + b"}", b"[]", b"\xff"):
        with pytest.raises(LeafError):
            parse_leaf(other)


@pytest.mark.parametrize("leaf", [
    {"v": 1, "id": "x"},
    {"leaf_type": "novel", "v": 1},
    {"leaf_type": "receipt", "v": 2},
    _leaf(cost=0.1),
    _leaf(when=datetime.now(UTC)),
    _leaf(nested={"a": [1, 2.5]}),
])
def test_values_without_a_canonical_form_are_refused(leaf):
    with pytest.raises(LeafError):
        leaf_bytes(leaf)


def test_a_refusal_names_where_the_value_is():
    with pytest.raises(LeafError, match=r"leaf\.nested\.a\[1\]: float"):
        leaf_bytes(_leaf(nested={"a": [1, 2.5]}))
    with pytest.raises(LeafError, match=r"leaf\.nested: keys must be strings"):
        leaf_bytes(_leaf(nested={1: "x"}))


def test_timestamps_have_one_spelling_per_instant():
    moment = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    elsewhere = moment.astimezone(timezone(timedelta(hours=5)))
    assert timestamp(moment) == timestamp(elsewhere) == "2026-01-02T03:04:05.000600Z"
    assert parse_timestamp(timestamp(moment)) == moment
    assert timestamp(moment.replace(microsecond=0)) == "2026-01-02T03:04:05.000000Z"
    with pytest.raises(LeafError):
        timestamp(datetime(2026, 1, 1))


def test_commitments_are_keyed_per_account():
    secret = b"s" * 32
    key_a, key_b = commitments.account_key(secret, "usr_a"), commitments.account_key(secret, "usr_b")
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "MRN 123"}], "temperature": 0.2}
    assert key_a != key_b
    assert commitments.request_commitment(key_a, body) != commitments.request_commitment(key_b, body)
    reordered = dict(reversed(list(body.items())))
    assert commitments.request_commitment(key_a, body) == commitments.request_commitment(key_a, reordered)
    changed = {**body, "messages": [{"role": "user", "content": "MRN 124"}]}
    assert commitments.request_commitment(key_a, body) != commitments.request_commitment(key_a, changed)


def test_a_commitment_is_the_hmac_of_label_and_data_whatever_came_before():
    """Keyed states are reused per key and label: interleaved, each is still its own HMAC."""
    keys, labels = (b"a" * 32, b"b" * 32), (commitments.REQUEST_LABEL, commitments.ANSWER_LABEL)
    for round_ in range(2):
        for key in keys:
            for label in labels:
                data = f"message {round_}".encode()
                assert commitments.commit(key, label, data) == hmac.new(
                    key, label + data, hashlib.sha256).hexdigest()


def test_a_streamed_and_a_plain_answer_commit_alike():
    plain = {"id": "chatcmpl-1", "created": 1, "usage": {"total_tokens": 3}, "aqta": {"cost_eur": "0"},
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": None},
                          "finish_reason": "stop", "logprobs": None}]}
    assembled = {"id": "chatcmpl-2", "object": "chat.completion",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                              "finish_reason": "stop"}]}
    key = commitments.account_key(b"k" * 32, "usr_a")
    assert commitments.answer_commitment(key, plain) == commitments.answer_commitment(key, assembled)
    other = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Ho"},
                          "finish_reason": "stop"}]}
    assert commitments.answer_commitment(key, plain) != commitments.answer_commitment(key, other)
