"""gunicorn's gevent worker, answering the HTTP errors gunicorn raises itself in Aqta's error shape.

gunicorn parses the request line and headers before Flask sees the request; when
they are malformed or too long it writes an HTML page. This worker writes the
JSON error shape instead (``aqta serve`` runs it), so every answer a client gets
is ``{"error": {"message", "type", "code"}}``.
"""
from __future__ import annotations

import json
import socket

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

LINGER_SECONDS = 1.0  # at most this long per read while draining a refused request
LINGER_BYTES = 1 << 20  # and at most this much of it

# gunicorn's parse errors: (exception types, status, reason, our code)
_PARSE_ERRORS = (
    ((http_errors.LimitRequestLine,), 414, "URI Too Long", "uri_too_long"),
    ((http_errors.LimitRequestHeaders,), 431, "Request Header Fields Too Large",
     "request_header_fields_too_large"),
    ((http_errors.InvalidRequestLine, http_errors.InvalidRequestMethod, http_errors.InvalidHTTPVersion,
      http_errors.InvalidHeader, http_errors.InvalidHeaderName, http_errors.ObsoleteFolding,
      http_errors.InvalidChunkSize, http_errors.ChunkMissingTerminator,
      http_errors.InvalidChunkExtension), 400, "Bad Request", "invalid_request"),
)


def error_response(exc: Exception) -> bytes | None:
    """The whole HTTP response for one of gunicorn's parse errors; None for any other error."""
    for types, status, reason, code in _PARSE_ERRORS:
        if isinstance(exc, types):
            kind = "invalid_request_error"
            body = json.dumps({"error": {"message": f"{reason}: {exc}", "type": kind,
                                         "code": code}}).encode()
            head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            return head.encode("latin-1") + body
    return None


class AqtaGeventWorker(GeventWorker):
    """GeventWorker whose own error answers are JSON; everything else is gunicorn's."""

    def handle_error(self, req, client, addr, exc):
        response = error_response(exc)
        if response is None:
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, response)
            linger(client)
        except OSError:  # the client may be gone already
            self.log.debug("Failed to send error message.")
        return None


def linger(client: socket.socket) -> None:
    """Read what the client is still sending before the socket closes, so the close
    does not reset the connection and discard the answer (a lingering close)."""
    client.shutdown(socket.SHUT_WR)
    client.settimeout(LINGER_SECONDS)
    read = 0
    while read < LINGER_BYTES and (chunk := client.recv(65536)):
        read += len(chunk)
