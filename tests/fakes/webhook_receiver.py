"""A loopback webhook receiver that verifies every delivery as a customer's would.

Each POST is checked with the ``standardwebhooks`` package against every secret
the test gave it (``receiver.secrets``), and recorded with the names of the
secrets that verified it. Tests script its answers: fail the next N with a
status, hang, redirect, or answer 200 with an endless body (a flood, a trickle, or a
given number of bytes and then silence with the connection left open).
"""
from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

ENDLESS_SECONDS = 15.0  # an endless body ends after this long, so a sender that reads on fails, not hangs


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    verified_by: list[str]  # names of the secrets whose signature verified
    answered: int | None  # the status it was answered with (None: hung up)
    names: list[str] = field(default_factory=list)  # header names as sent, in their case
    sender_hung_up: bool = False  # an endless body: the sender closed the connection before the receiver did

    @property
    def payload(self) -> dict:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Answer:
    status: int = 200
    hang: float = 0.0  # seconds to wait first
    headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False  # stream body bytes until the client hangs up
    trickle: float = 0.0  # endless: one byte every this many seconds instead of a flood
    stall_after: int | None = None  # endless: this many bytes, then silence (the connection open)


class WebhookReceiver:
    def __init__(self):
        self.secrets: dict[str, str] = {}  # name -> whsec_… secret
        self.received: list[Received] = []
        self.default = Answer()
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.server_names: list[str | None] = []  # SNI of each TLS handshake
        self.stopped = threading.Event()  # ends every endless body still being sent

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self, tls: ssl.SSLContext | None = None) -> WebhookReceiver:
        """Serve on a free loopback port; with ``tls``, over HTTPS (names asked for in SNI go
        to ``server_names``)."""
        receiver = self

        class Handler(_Handler):
            owner = receiver

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def answer_next(self, answer: Answer, times: int = 1) -> None:
        with self._lock:
            self._script.extend([answer] * times)

    def fail_next(self, times: int, status: int = 503) -> None:
        self.answer_next(Answer(status), times)

    def next_answer(self) -> Answer:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def verify(self, body: bytes, headers: dict[str, str]) -> list[str]:
        names = []
        for name, secret in list(self.secrets.items()):
            try:
                Webhook(secret).verify(body, headers)
                names.append(name)
            except WebhookVerificationError:
                pass
        return names

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in list(self.received) if r.payload["type"] == event_type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: WebhookReceiver

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.owner.next_answer()
        received = Received(self.path, headers, body, self.owner.verify(body, headers), None,
                            list(self.headers.keys()))
        self.owner.received.append(received)
        if answer.hang:
            time.sleep(answer.hang)
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.endless:
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                received.answered = answer.status
                received.sender_hung_up = self._stream(answer)
                return
            data = b'{"ok": true}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            received.answered = answer.status
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _stream(self, answer: Answer) -> bool:
        """Body bytes until the sender hangs up (True), or for ENDLESS_SECONDS at most (False)."""
        self.close_connection = True  # no length: the body ends when the connection does
        chunk = b"x" if answer.trickle else b"x" * 16384
        sent, until = 0, time.monotonic() + ENDLESS_SECONDS
        try:
            while time.monotonic() < until and not self.owner.stopped.is_set():
                if answer.stall_after is not None and sent >= answer.stall_after:
                    if self._sender_closed(wait=0.05):
                        return True
                    continue
                left = len(chunk) if answer.stall_after is None else answer.stall_after - sent
                sent += self.wfile.write(chunk[:left])
                self.owner.stopped.wait(answer.trickle)
        except (BrokenPipeError, ConnectionResetError):
            return True
        return False

    def _sender_closed(self, wait: float) -> bool:
        """Whether the sender's end is closed; waits up to ``wait`` seconds for it to say so."""
        readable, _, _ = select.select([self.connection], [], [], wait)
        try:
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except ConnectionResetError:
            return True
