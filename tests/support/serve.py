"""A real ``aqta serve`` (gunicorn, gevent workers) for tests: a free port, a clean environment, keys."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

AQTA = str(Path(sys.executable).with_name("aqta"))
SERVE_LOG = "aqta-serve.log"  # the server's stdout and stderr, in its folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_env(**extra: str) -> dict:
    """This environment without the gateway's own settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR")}
    return {**env, **extra}


def start_serve(folder: Path, port: int, env: dict, *args: str) -> subprocess.Popen:
    """``aqta serve`` in ``folder`` (its output in ``folder/aqta-serve.log``), once /readyz answers."""
    with open(Path(folder) / SERVE_LOG, "ab") as output:
        server = subprocess.Popen([AQTA, "serve", "--port", str(port), *args], cwd=folder, env=env,
                                  stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return server
        except requests.RequestException:  # not up yet, or slow under load
            pass
        assert server.poll() is None, (Path(folder) / SERVE_LOG).read_text()
        assert time.monotonic() < deadline, "server did not become ready"
        time.sleep(0.2)


def create_key(folder: Path, env: dict, email: str, *args: str) -> str:
    """``aqta create-key`` for ``email`` (more options in ``args``): the new key.

    ``aqta migrate`` runs first, as a user would: only it (or ``serve``) makes a new database."""
    subprocess.run([AQTA, "migrate"], cwd=folder, env=env, check=True, capture_output=True)
    made = subprocess.run([AQTA, "create-key", "--email", email, *args], cwd=folder, env=env,
                          check=True, capture_output=True, text=True)
    return made.stdout.strip().splitlines()[-1]
