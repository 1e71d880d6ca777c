"""Email normalisation, so one mailbox is one account however it is typed."""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from app.errors import InvalidRequest


def normalise_email(email: str) -> str:
    """The canonical form: validated syntax, IDNA domain, lower case throughout."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequest(f"email: {exc}", field="email", code="invalid_email") from None
    return result.normalized.lower()
