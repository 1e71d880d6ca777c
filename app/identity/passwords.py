"""Password rules and Argon2 hashing."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import InvalidRequest
from app.identity.common_passwords import is_common

MIN_LENGTH = 10  # characters
MAX_LENGTH = 256  # characters; Argon2 takes any length, but an unbounded one is a DoS
_hasher = PasswordHasher()
# Checked against when the email is unknown, so a wrong email costs what a wrong password does.
_DUMMY_HASH = _hasher.hash("aqta-no-such-user-password")


class WeakPassword(InvalidRequest):
    code = "weak_password"

    def __init__(self, message: str):
        super().__init__(message, field="password")


def check_strength(password: str, email: str = "") -> None:
    """Raise WeakPassword unless the password is long and varied enough."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password: use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password: use at most {MAX_LENGTH} characters.")
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if classes < 2 or len(set(password)) < 5:
        raise WeakPassword("password: mix letters with digits, capitals or symbols, "
                           "and avoid repeating one character.")
    local = email.split("@")[0].lower()
    if len(local) >= 4 and local in password.lower():
        raise WeakPassword("password: must not contain your email address.")
    if is_common(password):
        raise WeakPassword("password: this is one of the most commonly used passwords; "
                           "choose one nobody would guess.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends one Argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
