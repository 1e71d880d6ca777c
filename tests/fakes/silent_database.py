"""A database server that takes connections and never answers: a client's first query hangs.

Point a process's ``DATABASE_URL`` at it (``postgresql://127.0.0.1:<port>/aqta``)
and ``connected`` is set the moment that process first reaches for the database,
where it then waits for ever: a test knows exactly where the process stands.
"""
from __future__ import annotations

import socket
import threading


class SilentDatabase:
    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._accepted: list[socket.socket] = []
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"postgresql://127.0.0.1:{self._listener.getsockname()[1]}/aqta"

    def start(self) -> SilentDatabase:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            self._accepted.append(connection)  # held open, never read from or written to
            self.connected.set()

    def stop(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self._listener.close()
        for connection in self._accepted:
            connection.close()
