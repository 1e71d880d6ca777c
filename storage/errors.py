"""Storage errors; each carries the API status and code the web layer answers with."""
from app.errors import Conflict, NotFound


class EmailTaken(Conflict):
    code = "email_taken"

    def __init__(self, email: str):
        super().__init__(f"An account with the email {email} already exists.")
        self.email = email


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self, user_id: str):
        super().__init__(f"No user {user_id}.")


class KeyNotFound(NotFound):
    code = "key_not_found"

    def __init__(self, key_id: str):
        super().__init__(f"No API key {key_id}.")
