"""Email normalisation: one mailbox, one spelling; look-alike addresses refused."""
import pytest

from app.errors import InvalidRequest
from app.identity.emails import normalise_email


@pytest.mark.parametrize("typed, canonical", [
    ("  Ada.Lovelace@EXAMPLE.com ", "ada.lovelace@example.com"),
    ("ｖictim@example.com", "victim@example.com"),  # full-width v
    ("ａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ada@example.com"),  # all full-width
    ("ﬁnance@example.com", "finance@example.com"),  # the fi ligature
    ("a@xn--bcher-kva.de", "a@bücher.de"),  # punycode and Unicode are one domain
    ("a@BÜCHER.de", "a@bücher.de"),
    ("ВИКТОР@почта.рф", "виктор@почта.рф"),  # Cyrillic throughout, Cyrillic TLD
    ("山田.taro@例え.jp", "山田.taro@例え.jp"),  # Han, Kana and Latin may mix
    ("user+tag@example.com", "user+tag@example.com"),
])
def test_normal_forms(typed, canonical):
    assert normalise_email(typed) == canonical


@pytest.mark.parametrize("typed", [
    "a@exаmple.com",  # Cyrillic а inside a Latin domain
    "a@xn--exmple-4nf.com",  # the same, as punycode
    "vіctim@example.com",  # Cyrillic і in the local part
    "a@аррӏе.com",  # wholly Cyrillic, posing as apple.com
    "a@xn--80ak6aa92e.com",  # the same, as punycode
    "a@gοοgle.com",  # Greek omicrons
    "not-an-email",
    "a@",
])
def test_look_alikes_and_garbage_are_refused(typed):
    with pytest.raises(InvalidRequest) as refused:
        normalise_email(typed)
    assert refused.value.code == "invalid_email"
    assert refused.value.field == "email"
