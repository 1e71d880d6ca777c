"""Processes the benchmark starts, and what /proc says about them (RSS, CPU seconds).

Every process is started in its own session, so stopping it stops its whole
tree (gunicorn's workers, uvicorn's), and ``stop_all`` runs on any exit path.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # per second
_STARTED: list[Managed] = []


class Managed:
    """One started process (and its process group)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
                 cwd: str | None = None, log_path: Path | None = None):
        self.name = name
        self.log_path = log_path
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        finally:
            if log_path:
                out.close()
        _STARTED.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the group, then SIGKILL to whatever is left of it."""
        if self in _STARTED:
            _STARTED.remove(self)
        members = [self.pid, *descendants(self.pid)]
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(self.pid, signal.SIGKILL)
        for pid in members:  # a child that left the group (none should) still goes
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    for managed in reversed(list(_STARTED)):
        managed.stop(grace=10)


@contextmanager
def scratch(redis_url: str, prefix: str) -> Iterator[Path]:
    """A work folder and an empty Redis database; on exit every process is stopped and both are cleared."""
    import redis  # the caller may first put another checkout's packages on the path

    redis.Redis.from_url(redis_url).flushdb()
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        stop_all()
        redis.Redis.from_url(redis_url).flushdb()
        shutil.rmtree(workdir, ignore_errors=True)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree(root: int) -> list[int]:
    return [root, *descendants(root)]


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            pass
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes (and of children they reaped)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / CLOCK_TICKS


class PeakSampler:
    """Samples the RSS of a process tree in the background and keeps the peak."""

    def __init__(self, root: int, every: float = 0.25):
        self.root, self.every = root, every
        self.peak = 0
        self.peak_process = 0  # the largest single process seen (a worker, for the gateways)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pids = tree(self.root)
        refreshed = time.monotonic()
        while not self._stop.wait(self.every):
            if time.monotonic() - refreshed > 2:  # workers may come and go
                pids, refreshed = tree(self.root), time.monotonic()
            sizes = [rss_bytes([pid]) for pid in pids]
            self.peak = max(self.peak, sum(sizes))
            self.peak_process = max([self.peak_process, *sizes])

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _busy_seconds() -> float:
    """CPU seconds all cores spent in user and system mode since boot (irq time left out)."""
    user, nice, system = (int(v) for v in Path("/proc/stat").read_text().split(maxsplit=4)[1:4])
    return (user + nice + system) / CLOCK_TICKS


def _ours() -> float:
    """CPU of this benchmark (this process, what it started, reaped or not) and of Redis."""
    pids = tree(os.getpid())
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "redis-server":
                    pids.append(int(entry))
            except OSError:
                pass
    return cpu_seconds(pids)


class ForeignLoad:
    """How many cores processes other than this benchmark's (and Redis) kept busy over an interval.

    The machine's busy time minus ours. Approximate: kernel work done for our
    sockets may be charged to whichever task was running.
    """

    def __init__(self):
        self.started = time.monotonic()
        self.busy, self.ours = _busy_seconds(), _ours()

    def cores(self) -> float:
        elapsed = time.monotonic() - self.started
        foreign = (_busy_seconds() - self.busy) - (_ours() - self.ours)
        return max(0.0, foreign / elapsed) if elapsed > 0 else 0.0


def wait_for_quiet(max_seconds: float, threshold: float = 0.25, window: float = 3.0) -> float:
    """Wait (up to ``max_seconds``) until other processes use under ``threshold`` cores."""
    deadline = time.monotonic() + max_seconds
    while True:
        probe = ForeignLoad()
        time.sleep(window)
        load = probe.cores()
        if load < threshold or time.monotonic() >= deadline:
            return load
