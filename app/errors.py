"""The one error root, and the place where every error becomes the error shape.

Every error the API returns looks like OpenAI's: ``{"error": {"message", "type",
"code"}}``. Code raises an ``AqtaError`` subclass (or Flask raises an
``HTTPException``); ``register_error_handlers`` turns both into that shape.
"""
from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

from providers.errors import ProviderFailure, UnsupportedRequest
from storage.errors import RecordConflict, RecordNotFound, StorageError

log = logging.getLogger(__name__)

# OpenAI's error "type" for each status; SDKs branch on the status, people read the type.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# Codes for errors Flask raises itself (routing, body size, ...).
_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limit_exceeded",
}


# RFC 9110 §15.5.2: a 401 names how to authenticate. Keys are bearer tokens (RFC 6750).
CHALLENGE = 'Bearer realm="aqta"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="aqta", error="invalid_token"'


def error_type(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(message: str, code: str, status: int, **extra) -> dict:
    error = {"message": message, "type": error_type(status), "code": code}
    error.update(extra)
    return {"error": error}


class AqtaError(Exception):
    """Root of every error Aqta raises on purpose; carries its HTTP status and code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.code, self.status)


class InvalidRequest(AqtaError):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.field = field

    def body(self) -> dict:
        extra = {"param": self.field} if self.field else {}
        return error_body(self.message, self.code, self.status, **extra)


class NotAuthenticated(AqtaError):
    status = 401
    code = "not_authenticated"


class InvalidApiKey(AqtaError):
    status = 401
    code = "invalid_api_key"


class Forbidden(AqtaError):
    status = 403
    code = "forbidden"


class InsufficientTier(Forbidden):
    """The account's tier does not include this feature, or allow this limit."""

    code = "insufficient_tier"


class NotFound(AqtaError):
    status = 404
    code = "not_found"


class Conflict(AqtaError):
    status = 409
    code = "conflict"


class UnsupportedMediaType(AqtaError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(AqtaError):
    status = 503
    code = "service_unavailable"


def _validation_message(messages: dict) -> tuple[str, str | None]:
    """Flatten webargs' nested messages into one sentence naming the first bad field."""
    for location in ("json", "query", "form", "headers", "view_args"):
        if location in messages:
            messages = messages[location]
            break
    path: list[str] = []
    node = messages
    while isinstance(node, dict) and node:
        key, node = next(iter(node.items()))
        path.append(str(key))
    if isinstance(node, list) and node:
        node = node[0]
    field = ".".join(path) or None
    if field in (None, "_schema"):
        return str(node), None
    return f"{field}: {node}", field


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        # webargs reports schema failures as 422; the API promises 400 invalid_request.
        message, field = _validation_message(data["messages"])
        response = jsonify(InvalidRequest(message, field=field).body())
        response.status_code = 400
        return response
    message = data.get("message") or error.description or "error"
    response = jsonify(error_body(message, _CODE_BY_STATUS.get(status, "error"), status))
    response.status_code = status
    for name, value in data.get("headers", {}).items():
        response.headers[name] = value
    if status == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", CHALLENGE)
    return response


# What the layers below raise on purpose; ``api_error`` translates each at this boundary.
LOWER_LAYER_ERRORS = (StorageError, ProviderFailure)
# Everything raised on purpose, ours or a lower layer's: a page shows its message.
EXPECTED_ERRORS = (AqtaError, *LOWER_LAYER_ERRORS)


def api_error(error: AqtaError | StorageError | ProviderFailure) -> AqtaError:
    """The API error for ours or a lower layer's: storage's missing is 404, in conflict 409;
    a provider's carries its own status and code."""
    if isinstance(error, AqtaError):
        return error
    if isinstance(error, UnsupportedRequest):
        return InvalidRequest(error.message, field=error.field)
    if isinstance(error, ProviderFailure):
        translated = AqtaError(error.message, code=error.code, status=error.status)
    elif isinstance(error, RecordNotFound):
        translated = NotFound(error.message, code=error.code)
    elif isinstance(error, RecordConflict):
        translated = Conflict(error.message, code=error.code)
    else:
        translated = AqtaError(error.message, code=error.code)
    translated.__cause__ = error
    return translated


def handle_lower_layer_error(error: StorageError | ProviderFailure):
    return handle_aqta_error(api_error(error))


def handle_aqta_error(error: AqtaError):
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    if error.status == 401:
        response.headers.setdefault("WWW-Authenticate", INVALID_TOKEN_CHALLENGE
                                    if error.code == "invalid_api_key" else CHALLENGE)
    return response


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    request_id = getattr(g, "request_id", None)
    log.exception("unhandled error in request %s", request_id)
    body = error_body(f"Internal error; quote request id {request_id} when reporting it.",
                      "internal_error", 500)
    response = jsonify(body)
    response.status_code = 500
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(AqtaError, handle_aqta_error)
    for lower in LOWER_LAYER_ERRORS:
        app.register_error_handler(lower, handle_lower_layer_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
