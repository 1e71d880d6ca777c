"""Storage's own errors. The app translates them into API errors at its boundary
(``app.errors``), so this layer never imports the web layer.

Each carries a stable ``code`` (the API's error code) and a message saying what is
missing or in conflict.
"""
from __future__ import annotations


class StorageError(Exception):
    """Root of the errors repositories raise on purpose."""

    code = "storage_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class RecordNotFound(StorageError):
    """No such row for this owner (another account's row counts as missing)."""

    code = "not_found"


class RecordConflict(StorageError):
    """The row exists, or is busy, in a way the change cannot go ahead with."""

    code = "conflict"


class EmailTaken(RecordConflict):
    code = "email_taken"

    def __init__(self, email: str):
        super().__init__(f"An account with the email {email} already exists.")
        self.email = email


class UserNotFound(RecordNotFound):
    code = "user_not_found"

    def __init__(self, user_id: str):
        super().__init__(f"No user {user_id}.")


class KeyNotFound(RecordNotFound):
    code = "key_not_found"

    def __init__(self, key_id: str):
        super().__init__(f"No API key {key_id}.")
