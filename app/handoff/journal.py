"""The local journal: append-only segment files, one line per record, for when there is no Redis."""
from __future__ import annotations

import fcntl
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

SEGMENT_SUFFIX = ".jsonl"  # a journal segment; ".tmp" while it is being created


class Journal:
    """Append-only segment files written by this process, one line per record.

    The open segment is ``flock``-ed for as long as this process writes it, so the
    drain can tell a live segment from a finished one (rotated, or its writer gone).
    A lock makes appends safe across threads and greenlets; nothing inside it yields.
    """

    def __init__(self, directory: str | Path, fsync_seconds: float = 1.0,
                 segment_bytes: int = 16 * 1024 * 1024, clock: Callable[[], float] = time.monotonic):
        self.directory = Path(directory)
        self.fsync_seconds = fsync_seconds
        self.segment_bytes = segment_bytes
        self.clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int  # the writing process and the open segment's size: both set when a segment opens
        self._size: int
        self._synced_at = float("-inf")

    def append(self, line: bytes) -> None:
        """Write one line (ending in a newline) to the open segment; raises ``OSError``."""
        with self._lock:
            fd = self._segment()
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write to the request journal ({written} of {len(line)} bytes)")
                self._size += written
                now = self.clock()
                if now - self._synced_at >= self.fsync_seconds:
                    os.fsync(fd)
                    self._synced_at = now
            except OSError:
                # A partial line stays at the end of a finished segment, where the drain skips it.
                self._close()
                raise
            if self._size >= self.segment_bytes:
                self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _segment(self) -> int:
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        if self._fd is not None:  # inherited across fork: the parent still writes it
            os.close(self._fd)
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}-{os.getpid()}-{secrets.token_hex(4)}"
        # Lock before the name the drain looks for exists, so it never sees it unlocked.
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(temporary, path.with_suffix(SEGMENT_SUFFIX))
        _fsync_directory(self.directory)
        self._fd, self._pid, self._size = fd, os.getpid(), 0
        return fd

    def _close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._pid == os.getpid():
                os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
