"""Quota exactness under a race: several gateway processes on one Redis, many clients.

Starts ``aqta serve`` on loopback, creates a pro key with a monthly quota of N,
fires more than N chat requests from many concurrent clients, and counts the
answers. ``benchmarks/quota_race.py`` runs it at scale; the tests at a small one.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support import delete_redis_keys, redis_env, redis_names_for
from tests.support.serve import AQTA, free_port


def wait_ready(base: str, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the gateway exited: {server.stdout.read().decode()}")
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or slow to answer under load
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not become ready")


def race(quota: int, clients: int, total: int, workers: int, redis_url: str | None,
         database_url: str | None = None) -> Counter:
    """Run the race; return the count of each HTTP status the clients got."""
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env["DATABASE_URL"] = database_url or f"sqlite:///{folder}/race.db"
        tag = f"aqta-test-race-{uuid.uuid4().hex[:12]}"  # everything it writes in Redis, removed below
        if redis_url:
            env.update(REDIS_URL=redis_url, **redis_env(redis_names_for(tag)))
        # A new database: only migrate (or serve) makes one; create-key then finds it.
        subprocess.run([AQTA, "migrate"], env=env, cwd=folder, check=True, capture_output=True)
        created = subprocess.run(
            [AQTA, "create-key", "--email", f"race-{uuid.uuid4().hex[:8]}@example.com",
             "--tier", "pro", "--monthly-quota", str(quota)],
            env=env, cwd=folder, check=True, capture_output=True, text=True)
        key = created.stdout.strip().splitlines()[-1]
        port = free_port()
        server = subprocess.Popen([AQTA, "serve", "--port", str(port), "--workers", str(workers)],
                                  env=env, cwd=folder, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, server)
            session_for_thread: dict[int, requests.Session] = {}

            def call(_: int) -> int:
                import threading

                session = session_for_thread.setdefault(threading.get_ident(), requests.Session())
                return session.post(f"{base}/v1/chat/completions", timeout=30,
                                    headers={"Authorization": f"Bearer {key}"},
                                    json={"model": "mock-1", "messages": [
                                        {"role": "user", "content": f"request {_:05d}"}]}).status_code

            with ThreadPoolExecutor(max_workers=clients) as pool:
                return Counter(pool.map(call, range(total)))
        finally:
            server.terminate()
            server.wait(timeout=20)
            if redis_url:
                delete_redis_keys(tag, redis_url)
