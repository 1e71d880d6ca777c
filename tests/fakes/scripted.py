"""A loopback upstream that answers whatever the test scripts, and addresses that fail.

``ScriptedUpstream`` speaks no provider's format: each request gets the next reply
a test queued with ``answer_next`` (any status, headers and body, JSON or raw
bytes, or a stream), plus the failures every fake has (``fail_next``: a hang, a
dropped connection, a stream broken after N events). It counts streams written
to the end and streams cut short, so tests can see a client hang up.

``refused_url`` and ``silent_url`` are addresses where nothing answers: the first
refuses the connection at once, the second never completes it.
"""
from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tests.fakes.server import Failure, FakeUpstream, Received, Reply, StreamReply

NOTHING_SCRIPTED = 599  # status of the answer to a request no reply was queued for


class ScriptedUpstream(FakeUpstream):
    """Answers each request with the next queued reply; see the module docstring."""

    def __init__(self):
        super().__init__()
        self.completed_streams = 0  # streams written to the end
        self.aborted_streams = 0  # streams cut short by the client or a break
        self._script: deque[Reply | StreamReply] = deque()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by reset(): which test a request arrived in
        self._arrival = threading.local()  # per handler thread: the generation it arrived in

    def answer_next(self, reply: Reply | StreamReply) -> None:
        """Queue the answer to the next request not yet answered."""
        self._script.append(reply)

    def reset(self) -> None:
        super().reset()
        self._generation += 1
        self._script.clear()
        self.completed_streams = self.aborted_streams = 0

    def next_failure(self) -> Failure | None:
        self._arrival.generation = self._generation  # called as each request arrives
        return super().next_failure()

    def handle(self, request: Received) -> Reply | StreamReply:
        if self._arrival.generation != self._generation:
            # A request that hung past the end of its test must not take the next test's reply.
            return Reply({"error": {"message": "answered after a reset"}}, NOTHING_SCRIPTED)
        try:
            reply = self._script.popleft()
        except IndexError:
            return Reply({"error": {"message": f"no reply scripted for {request.method} "
                                               f"{request.path}"}}, NOTHING_SCRIPTED)
        if isinstance(reply, StreamReply):
            return StreamReply(self._counted(reply.events), reply.delay)
        return reply

    def _counted(self, events: Iterable[tuple[str | None, str]]
                 ) -> Iterator[tuple[str | None, str]]:
        finished = False
        try:
            yield from events
            finished = True
        finally:
            with self._lock:
                if finished:
                    self.completed_streams += 1
                else:
                    self.aborted_streams += 1


def refused_url() -> str:
    """An http URL on loopback where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    return f"http://{host}:{port}"


@contextmanager
def silent_url() -> Iterator[str]:
    """An http URL on loopback whose connections are never accepted: a connect timeout.

    A listening socket with a backlog of 0 is filled with connections nobody accepts;
    the kernel then drops new connection attempts, so a client waits until its
    connect timeout, offline and without depending on how a network routes.
    """
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        address = server.getsockname()
        fillers: list[socket.socket] = []
        try:
            for _ in range(64):  # Linux queues backlog + 1; stop at the first that hangs
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)  # seconds
                try:
                    filler.connect(address)
                except TimeoutError:
                    break
            else:
                raise RuntimeError("could not fill the listen backlog of a loopback socket")
            yield f"http://{address[0]}:{address[1]}"
        finally:
            for filler in fillers:
                filler.close()
