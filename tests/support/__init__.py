"""Helpers shared by tests: polling with a deadline, a clock moved by hand, a Redis server of a test's own,
counting calls to a function."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
import redis

DEADLINE_SECONDS = 30  # generous: only something stuck gets near it


def wait_for(condition, what: str, deadline_seconds: float = DEADLINE_SECONDS):
    """Poll ``condition`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Clock:
    """A clock that stands still until the test moves it (``clock.now += 59.999``)."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def calls_to(function, action) -> int:
    """How many times ``function`` (a plain Python function) is entered while ``action()`` runs."""
    code, calls, previous = function.__code__, 0, sys.getprofile()

    def count(frame, event, arg):
        nonlocal calls
        if event == "call" and frame.f_code is code:
            calls += 1

    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(previous)
    return calls


def log_lines(caplog, logger: str) -> list[str]:
    """The messages ``caplog`` holds from exactly this logger."""
    return [record.getMessage() for record in caplog.records if record.name == logger]


# The settings that name what the app writes in Redis, and their environment variables.
REDIS_NAME_VARIABLES = {"redis_key_prefix": "REDIS_KEY_PREFIX", "request_log_stream": "REQUEST_LOG_STREAM",
                        "log_stream": "LOG_STREAM", "risk_stream": "RISK_STREAM",
                        "jobs_namespace": "JOBS_NAMESPACE"}


def redis_names_for(tag: str) -> dict[str, str]:
    """Settings that put everything the app writes in Redis under ``tag``."""
    return {"redis_key_prefix": f"{tag}:", "request_log_stream": f"{tag}:request-log",
            "log_stream": f"{tag}:log-pending", "risk_stream": f"{tag}:risk-cases", "jobs_namespace": tag}


def redis_env(names: dict[str, str]) -> dict[str, str]:
    """The same names as environment variables, for an ``aqta`` process a test starts."""
    return {REDIS_NAME_VARIABLES[name]: value for name, value in names.items()}


def delete_redis_keys(prefix: str, url: str) -> None:
    """Delete every key starting with ``prefix``; without a reachable Redis there is none."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start at will."""

    def __init__(self, folder):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _answers(client), "the private redis-server to start", 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()  # a stopped process would otherwise stay stopped until killed
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port: without persistence, Redis comes back empty."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Stall the server (SIGSTOP): connections are accepted by the kernel, nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def _answers(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.ConnectionError:
        return False
