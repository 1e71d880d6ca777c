"""The providers' own errors; the app translates them into API errors (``app.errors``).

Each says what went wrong and carries the API's code and the HTTP status it
suggests, so the translation is one rule, not a table kept in step.
"""
from __future__ import annotations


class ProviderFailure(Exception):
    """Root of every error a provider raises on purpose."""

    status = 502
    code = "provider_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsupportedRequest(ProviderFailure):
    """The request is valid OpenAI but cannot be expressed for this provider."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class ProviderError(ProviderFailure):
    """The upstream failed: an HTTP error, a refused connection, or a broken stream.

    The client is told which provider failed; the upstream's status and message
    are kept on the error for the log, not sent to the client.
    """

    def __init__(self, provider: str, *, upstream_status: int | None = None,
                 upstream_message: str | None = None):
        detail = f" (upstream HTTP {upstream_status})" if upstream_status else ""
        super().__init__(f"The upstream provider '{provider}' failed{detail}.")
        self.provider = provider
        self.upstream_status = upstream_status
        self.upstream_message = upstream_message


class ProviderTimeout(ProviderFailure):
    status = 504
    code = "provider_timeout"

    def __init__(self, provider: str):
        super().__init__(f"The upstream provider '{provider}' did not answer in time.")
        self.provider = provider
