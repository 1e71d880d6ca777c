"""A loopback proxy in front of a Redis server that can flush it at one exact point of a request.

Admission rebuilds a month's quota counters Redis lacks and then counts again; if
Redis loses them once more in between (flushed, failed over to an empty replica)
it must refuse the request, not count from nothing. That gap is a few
milliseconds wide, so a test cannot hit it with a second client; this proxy
forwards every byte both ways and, once armed, sends ``FLUSHDB`` to the server
(on a connection of its own) right before it forwards the first ``EVALSHA`` that
follows a ``SET … NX EX``: the rebuild's write, then the count run again.
"""
from __future__ import annotations

import socket
import threading

import redis


class FlushingRedisProxy:
    def __init__(self, server_url: str):
        self._server = redis.Redis.from_url(server_url)
        kwargs = self._server.connection_pool.connection_kwargs
        self._address = (kwargs["host"], kwargs["port"])
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._armed = False  # flush before the next count that follows a rebuild
        self._rebuilt = False  # a counter's SET … NX EX has passed since the proxy was armed
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"

    def flush_after_the_next_rebuild(self) -> None:
        with self._lock:
            self._armed, self._rebuilt = True, False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                server = socket.create_connection(self._address)
            except OSError:  # stopped, or the server is gone
                return
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if from_client:
                    self._watch(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            source.close()
            sink.close()

    def _watch(self, command: bytes) -> None:
        with self._lock:
            if not self._armed:
                return
            # The counters' SET … NX EX, not the rebuild lock's SET … NX PX.
            if b"\r\nSET\r\n" in command and b"\r\nNX\r\n" in command and b"\r\nEX\r\n" in command:
                self._rebuilt = True
            elif self._rebuilt and b"\r\nEVALSHA\r\n" in command:
                self._armed = False
                self._server.flushdb()

    def stop(self) -> None:
        # shutdown, not close alone, wakes the threads blocked in accept() and recv().
        for sock in [self._listener, *self._sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed by its pump
                pass
            sock.close()
        self._server.close()
