"""Email normalisation, so one mailbox is one account however it is typed.

The address is NFKC-normalised first (a full-width ``ｖictim@example.com`` is
``victim@example.com``), then validated, with the domain in its Unicode form
(``xn--`` punycode is decoded, so both spellings are one account). Look-alikes
are refused: a label of the local part or of the domain that mixes scripts
(Latin with a Cyrillic ``а``), or, under an ASCII top-level domain, one written
wholly in Cyrillic or Greek letters that pass for Latin ones (``аррӏе``), as
browsers refuse to show such domains in Unicode. Latin may mix with Han, Kana
and Hangul, as Japanese, Chinese and Korean names do (Unicode TS #39, "highly
restrictive").
"""
from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from app.errors import InvalidRequest

# Sets of scripts one label may combine (besides a single script of any kind).
_MIXES = ({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}, {"LATIN", "CJK", "BOPOMOFO"},
          {"LATIN", "CJK", "HANGUL"})
# Cyrillic and Greek letters that look like Latin ones.
_LATIN_LOOKALIKES = set("аеорсухіјѕԁӏԛԝһкмнтвпгьАВЕКМНОРСТУХІЈЅԌ"
                        "οαρνικτυχεΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
_LABEL_SEPARATORS = re.compile(r"[.+\-_]")


def normalise_email(email: str) -> str:
    """The canonical form: NFKC, validated syntax, Unicode domain, lower case throughout."""
    try:
        result = validate_email(unicodedata.normalize("NFKC", email.strip()),
                                check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequest(f"email: {exc}", field="email", code="invalid_email") from None
    _refuse_lookalikes(result.local_part, result.domain)
    return result.normalized.lower()


def _refuse_lookalikes(local_part: str, domain: str) -> None:
    ascii_tld = domain.rsplit(".", 1)[-1].isascii()
    for label in _LABEL_SEPARATORS.split(local_part) + domain.split("."):
        scripts = _scripts(label)
        mixed = len(scripts) > 1 and not any(scripts <= allowed for allowed in _MIXES)
        disguised = ascii_tld and scripts & {"CYRILLIC", "GREEK"} and all(
            char in _LATIN_LOOKALIKES for char in label if char.isalpha())
        if mixed or disguised:
            raise InvalidRequest(
                f"email: {label!r} mixes alphabets or imitates Latin letters; type the address "
                "in one alphabet", field="email", code="invalid_email")


def _scripts(label: str) -> set[str]:
    """The scripts of a label's letters, by the first word of each letter's Unicode name."""
    return {unicodedata.name(char, "UNKNOWN").split(" ")[0]
            for char in label if char.isalpha()}
