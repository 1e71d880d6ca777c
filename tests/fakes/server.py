"""A loopback HTTP server that fakes are built on, with injectable failures.

A fake subclasses ``FakeUpstream`` and implements ``handle(request)`` returning a
``Reply`` (JSON, or any bytes) or a ``StreamReply`` (server-sent events, written as
they are yielded). Tests inject failures for the next calls: an HTTP error status,
a hang longer than the client's timeout, an answer held until the test lets it go,
a connection dropped without an answer, or a stream that breaks after N events.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    client_address: tuple[str, int] | None = None  # the same for requests on one connection


@dataclass
class Reply:
    """``body`` is sent as JSON, or as it is when it is bytes (say, an HTML error page)."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)  # may replace Content-Type


@dataclass
class StreamReply:
    """Server-sent events; each item is (event name or None, data string)."""

    events: Iterable[tuple[str | None, str]]
    delay: float = 0.0  # seconds between events


@dataclass
class Failure:
    status: int | None = None  # answer with this HTTP status and an error body
    body: Any = None
    hang: float | None = None  # sleep this long (seconds) before answering
    break_after: int | None = None  # drop the connection after this many stream events
    drop: bool = False  # read the request, then close the connection without answering
    held_until: threading.Event | None = None  # answer only once the test sets this (at most 30 s)


class FakeUpstream:
    """Base class: runs the fake on 127.0.0.1 on a free port in a daemon thread."""

    def __init__(self):
        self.received: list[Received] = []
        self._failures: deque[Failure] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what tests call ------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeUpstream":
        fake = self

        class Handler(_Handler):
            upstream = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def fail_next(self, *, status: int | None = None, body: Any = None, hang: float | None = None,
                  break_after: int | None = None, drop: bool = False,
                  held_until: threading.Event | None = None, times: int = 1) -> None:
        for _ in range(times):
            self._failures.append(Failure(status, body, hang, break_after, drop, held_until))

    def reset(self) -> None:
        self.received.clear()
        self._failures.clear()

    # -- what a fake implements -------------------------------------------------
    def handle(self, request: Received) -> Reply | StreamReply:
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        """The upstream's error body for an injected failure status."""
        return {"error": {"message": f"injected failure {status}", "type": "api_error"}}

    def next_failure(self) -> Failure | None:
        try:
            return self._failures.popleft()
        except IndexError:
            return None


class _Server(ThreadingHTTPServer):
    # A gateway opening a hundred streams at once would overflow the default backlog of
    # 5, and the dropped connects would wait for TCP's retransmission (1 s, 3 s, 7 s...).
    request_queue_size = 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for
    # the client's delayed ACK, 40 ms a request on Linux loopback.
    disable_nagle_algorithm = True
    upstream: FakeUpstream

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionResetError:  # a client hung up with unread data (a stream closed early)
            self.close_connection = True

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = Received(self.command, parts.path, parse_qs(parts.query),
                           {k.lower(): v for k, v in self.headers.items()}, body,
                           self.client_address[:2])
        fake = self.upstream
        fake.received.append(request)
        failure = fake.next_failure()
        if failure and failure.hang:
            time.sleep(failure.hang)
        if failure and failure.held_until:
            failure.held_until.wait(30)
        if failure and failure.drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if failure and failure.status:
            self._send_reply(Reply(failure.body or fake.error_body(failure.status), failure.status))
            return
        reply = fake.handle(request)
        if isinstance(reply, StreamReply):
            self._send_stream(reply, failure.break_after if failure else None)
        else:
            self._send_reply(reply)

    def _send_reply(self, reply: Reply) -> None:
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        headers = {"Content-Type": "application/json", **reply.headers}
        self.send_response(reply.status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a hang test)
            self.close_connection = True

    def _send_stream(self, reply: StreamReply, break_after: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = iter(reply.events)
        try:
            for index, (event, data) in enumerate(events):
                if break_after is not None and index >= break_after:
                    # Close mid-stream without the terminating chunk: a broken upstream.
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if reply.delay and index:
                    time.sleep(reply.delay)
                text = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
                payload = text.encode()
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(events, "close", None)
            if close:  # a generator's own clean-up runs now, in this handler's thread
                close()
