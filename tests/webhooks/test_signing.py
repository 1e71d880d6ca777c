"""Webhook signatures as the Standard Webhooks reference computes them, and secrets sealed at rest.

The delivery tests check signatures end to end with a receiver; these pin the
pure parts byte for byte, so a change that a receiver would notice only on some
inputs (a second secret, a timestamp, a secret sealed by an earlier release)
shows here.
"""
from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from app.webhooks.signing import SecretBox, envelope, new_secret, secret_key_bytes, signature, signed_headers

SECRET = "whsec_MfKQ9r8GKYqrTQJGnwEl4OWN6TrAjsz0n5EEOFFg9bk="
OTHER = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
WHEN = datetime(2021, 2, 25, 15, 2, 10, 123456, tzinfo=UTC)  # 1614265330.123456
BODY = '{"test": 2432232314}'


def test_a_signature_is_the_reference_librarys_byte_for_byte():
    expected = "v1,5bpLQ6yIsDO54Mcup+R6CCAkm1Kn+9a2Yh8QcjDieK0="
    assert signature(SECRET, MESSAGE_ID, 1614265330, BODY) == expected
    assert Webhook(SECRET).sign(MESSAGE_ID, WHEN, BODY) == expected


def test_the_headers_carry_the_id_the_whole_seconds_and_one_signature_per_secret():
    headers = signed_headers([SECRET, OTHER], MESSAGE_ID, WHEN, BODY)
    assert headers == {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": f"{signature(SECRET, MESSAGE_ID, 1614265330, BODY)} "
                             f"{signature(OTHER, MESSAGE_ID, 1614265330, BODY)}"}
    assert signed_headers([SECRET], MESSAGE_ID, WHEN, BODY)["webhook-signature"] == (
        "v1,5bpLQ6yIsDO54Mcup+R6CCAkm1Kn+9a2Yh8QcjDieK0=")


def test_the_hmac_key_is_the_secrets_decoded_bytes():
    assert secret_key_bytes(SECRET) == base64.b64decode(SECRET[len("whsec_"):])
    with pytest.raises(ValueError, match="^a webhook secret starts with whsec_$"):
        secret_key_bytes(SECRET[len("whsec_"):])


def test_a_new_secret_is_32_random_bytes_behind_the_prefix():
    made = {new_secret() for _ in range(3)}
    assert len(made) == 3
    for secret in made:
        assert secret.startswith("whsec_") and len(secret_key_bytes(secret)) == 32


def test_an_event_body_is_compact_json_with_a_utc_timestamp_to_the_microsecond():
    assert envelope("loop.detected", WHEN, {"key_id": "key_1", "count": 5}) == (
        '{"type":"loop.detected","timestamp":"2021-02-25T15:02:10.123456Z",'
        '"data":{"key_id":"key_1","count":5}}')
    assert envelope("webhook.test", WHEN.replace(microsecond=0), {}) == (
        '{"type":"webhook.test","timestamp":"2021-02-25T15:02:10.000000Z","data":{}}')


# A secret sealed by this release under this SECRET_KEY: a release that derived the sealing key
# differently could no longer open the secrets in a database.
SETTINGS_KEY = "a-settings-secret-key-for-the-vector"
SEALED = ("gAAAAABrDftp33LWrUEXW-VOT8OOmLcOf8UzRcKCqlG-j4V01-LFi94kWqVhOcQvfomqC550rQ4Ks-WJxHEPi6_oe"
          "T0sZYP6bFxed30N-dLE1zjboljFPBmSa4YfAgMPPM6-KkWKtVJnuzkqxwWPyvw-kCRVDnCtlw==")


def test_a_secret_sealed_by_an_earlier_release_still_opens():
    assert SecretBox(SETTINGS_KEY).open(SEALED) == SECRET


def test_a_sealed_secret_opens_only_under_its_settings_key():
    box = SecretBox(SETTINGS_KEY)
    sealed = box.seal(OTHER)
    assert OTHER not in sealed and box.open(sealed) == OTHER
    with pytest.raises(ValueError) as refused:
        SecretBox(SETTINGS_KEY + "!").open(sealed)
    assert str(refused.value) == ("a webhook secret could not be decrypted: was SECRET_KEY changed? "
                                  "Rotate the endpoint's secret.")
    assert repr(box) == "SecretBox(<sealed>)"


def test_sealing_needs_a_settings_key():
    with pytest.raises(ValueError, match="^SECRET_KEY is needed to seal webhook secrets$"):
        SecretBox("")
