"""How gunicorn runs Aqta: its gevent worker, and its configuration hooks (``-c python:app.serving``).

gunicorn parses the request line and headers before Flask sees the request; when
they are malformed or too long it writes an HTML page. This worker writes the
JSON error shape instead (``aqta serve`` runs it), so every answer a client gets
is ``{"error": {"message", "type", "code"}}``.

gunicorn's master imports this module, and must not import the app (gevent patches
the standard library in each worker before the app is loaded), so the hooks reach
the app only through the worker's loaded WSGI app: ``child_exit`` (master) marks a
dead worker's metric files, ``worker_exit`` (in the worker, once its requests have
drained) runs the app's exit hooks (``app.extensions["aqta.at_exit"]``: the request
log's flush), ``on_exit`` (master) removes the metrics folder ``aqta serve`` made.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket

import gevent.socket
from gunicorn import glogging, util
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker
from prometheus_client import multiprocess

from app.logs import json_formatter

log = logging.getLogger(__name__)
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own
# Set by ``aqta serve`` when it made the metrics folder itself, so the master removes it at exit.
TEMPORARY_DIR_VARIABLE = "AQTA_METRICS_DIR_IS_TEMPORARY"

LINGER_SECONDS = 1.0  # at most this long per read while draining a refused request
LINGER_BYTES = 1 << 20  # and at most this much of it
SENDALL_PIECE_BYTES = 1 << 20  # gevent's sendall sends in pieces of max(SO_SNDBUF, this)

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


class ClientSocket(gevent.socket.socket):
    """A client connection whose ``sendall`` does not ask the kernel its send buffer's size.

    gevent's ``sendall`` calls ``getsockopt(SO_SNDBUF)`` every time, only to cut what
    it sends into pieces of max(that, 1 MiB); gunicorn calls it once per response
    chunk, every event of a stream (a third of a stream's system calls). Up to 1 MiB
    on a blocking socket is one piece whatever the answer, sent with gevent's own
    loop of ``send``; anything else takes gevent's path.
    """

    __slots__ = ()

    def sendall(self, data, flags=0):
        if self.timeout is not None or len(data) > SENDALL_PIECE_BYTES:
            return super().sendall(data, flags)
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            sent += self.send(view[sent:], flags)
        return None


class AqtaGeventWorker(GeventWorker):
    """GeventWorker whose own error answers are JSON, and whose plain (not TLS) client
    sockets are ``ClientSocket``; everything else is gunicorn's."""

    def handle(self, listener, client, addr):
        if type(client) is gevent.socket.socket:
            client.__class__ = ClientSocket  # same slots: only sendall differs
        super().handle(listener, client, addr)

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


class AqtaLogger(glogging.Logger):
    """gunicorn's own log lines, as JSON objects too when ``LOG_FORMAT=json``."""

    def setup(self, cfg):
        super().setup(cfg)
        # Read here, not through the app's settings: the master never builds the app
        # (``aqta serve`` has checked the value before starting gunicorn).
        if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(json_formatter())


# -- gunicorn's configuration (this module is its config file: ``-c python:app.serving``) --
worker_class = "app.serving.AqtaGeventWorker"
logger_class = "app.serving.AqtaLogger"


def child_exit(server, worker) -> None:
    """A worker ended: mark its live metric files dead, as prometheus_client asks."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker) -> None:
    """In the worker, after its last request: run the app's exit hooks (flush the request log)."""
    for hook in getattr(worker.wsgi, "extensions", {}).get("aqta.at_exit", ()):
        try:
            hook()
        except Exception:  # one failed hook must not keep the others from running
            log.exception("exit hook %r failed", hook)


def on_exit(server) -> None:
    """The master stops: remove the metrics folder ``aqta serve`` made for this run."""
    folder = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if folder and os.environ.get(TEMPORARY_DIR_VARIABLE) == folder:
        shutil.rmtree(folder, ignore_errors=True)
