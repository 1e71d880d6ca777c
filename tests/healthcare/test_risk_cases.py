"""Sealed risk cases: only this deployment's key opens them, and a changed byte is refused."""
from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from app.handoff.journal import Journal
from app.healthcare.risk.cases import InvalidCase, RiskCases
from storage.records import ApiKeyRecord

REQUEST = {"model": "gpt-4o", "metadata": {"decision_type": "dosing" * 20},
           "messages": [{"role": "user", "content": "How much paracetamol for a 4-year-old?"}]}
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "240 mg every 4-6 hours."}}]}


def sealer(tmp_path, secret: str = "test-secret-key-0123456789abcdef") -> RiskCases:
    return RiskCases(secret, Journal(tmp_path / "journal"), None, "risk")


def sealed(cases: RiskCases) -> bytes:
    key = ApiKeyRecord("key_1", "usr_1", "test", "sk-aqta-", "abcd", "healthcare",
                       datetime(2026, 11, 1, tzinfo=UTC), None, None)
    return cases.rider(receipt_id="rcpt_1", key=key, request_id="req_1", model="gpt-4o",
                       created_at=datetime(2026, 11, 30, tzinfo=UTC), request=REQUEST, answer=ANSWER).data


def test_a_case_opens_with_its_text_and_a_short_declared_type(tmp_path):
    cases = sealer(tmp_path)
    data = sealed(cases)
    assert b"paracetamol" not in data and b"\n" not in data
    case = cases.open(data)
    assert case["request"] == REQUEST["messages"][0]["content"]
    assert case["answer"] == "240 mg every 4-6 hours."
    assert case["receipt_id"] == "rcpt_1" and len(case["decision_type"]) == 40


@pytest.mark.parametrize("spoil", [
    lambda data, tmp_path: sealer(tmp_path, "another-secret-key-0123456789abcd").open(data),
    lambda data, tmp_path: sealer(tmp_path).open(base64.b64encode(
        base64.b64decode(data)[:-1] + bytes([base64.b64decode(data)[-1] ^ 1]))),
    lambda data, tmp_path: sealer(tmp_path).open(b"not base64!"),
    lambda data, tmp_path: sealer(tmp_path).open(b""),
])
def test_another_key_or_a_changed_byte_does_not_open(tmp_path, spoil):
    with pytest.raises(InvalidCase):
        spoil(sealed(sealer(tmp_path)), tmp_path)
