"""The request log under a killed worker: every answer a client got is logged exactly once.

Starts ``aqta serve`` (gunicorn, gevent workers, Redis) and ``aqta worker`` on
loopback, fires N chat requests from many concurrent clients (plain, streamed,
cache hits, unknown models, and a rate-limited key, so outcomes are mixed),
SIGKILLs the worker's whole process group part-way through (with a batch in
flight when it can catch one) and restarts it, waits for the drain, and compares
the log with what the clients received: the same request ids, the same count,
the same summed ``cost_eur`` (Decimal). Exits 1 on any mismatch.

    python benchmarks/request_log_kill.py --requests 10000 --clients 64 --workers 2
    python benchmarks/request_log_kill.py --database-url postgresql://postgres@127.0.0.1/aqta_bench
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import redis
import requests

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.gateway.admission.quota_race import AQTA, free_port  # noqa: E402

GROUP = "aqta-request-log"
PLACES = ["Cork", "Galway", "Sligo", "Kerry", "Clare", "Mayo", "Louth", "Meath"]


def create_key(env: dict, folder: str, email: str, rpm: int) -> tuple[str | None, str]:
    """A pro key with ``rpm`` requests a minute: (the user id if the account is new, the key)."""
    out = subprocess.run([AQTA, "create-key", "--email", email, "--tier", "pro", "--rpm", str(rpm),
                          "--monthly-quota", "10000000"], env=env, cwd=folder, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    user_id = next((line.split()[2] for line in out if line.startswith("created user")), None)
    return user_id, out[-1]


def wait_ready(base: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the gateway exited with status {server.returncode}")
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not become ready")


def start_worker(env: dict, folder: str) -> subprocess.Popen:
    return subprocess.Popen([AQTA, "worker", "--processes", "1", "--threads", "8"], env=env,
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill_group(process: subprocess.Popen, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal the process group ``process`` leads (started with a session of its own)."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        kill_group(process)


def pending(client: redis.Redis, stream: str) -> int:
    try:
        return client.xpending(stream, GROUP)["pending"]
    except redis.ResponseError:
        return 0


class Clients:
    """Many concurrent clients; each response's request id, status and ``aqta.cost_eur``."""

    def __init__(self, base: str, key: str, limited_key: str):
        self.base, self.key, self.limited_key = base, key, limited_key
        self.received: dict[str, Decimal] = {}
        self.statuses: Counter = Counter()
        self.failures = 0  # no response at all (never reached the client)
        self._lock = threading.Lock()
        self._local = threading.local()

    def request(self, number: int) -> None:
        session = self._local.__dict__.setdefault("session", requests.Session())
        kind = random.Random(number).random()
        key, body = self.key, {"model": "mock-1", "user": f"user-{number}", "messages": [
            {"role": "user", "content": f"Tell me about {PLACES[number % 8]}, number {number}."}]}
        if kind < 0.15:  # a few questions asked again and again: cache hits
            question = f"Why is {PLACES[number % 3]} so green?"
            body.update(temperature=0, messages=[{"role": "user", "content": question}])
        elif kind < 0.20:
            body["stream"] = True
        elif kind < 0.25:
            body["model"] = "no-such-model"  # refused: 404
        elif kind < 0.30:
            key = self.limited_key  # mostly refused: 429
        try:
            response = session.post(f"{self.base}/v1/chat/completions", json=body, timeout=60,
                                    headers={"Authorization": f"Bearer {key}"}, stream=body.get("stream"))
            cost = self._cost(response, bool(body.get("stream")))
        except requests.RequestException:
            with self._lock:
                self.failures += 1
            return
        with self._lock:
            self.received[response.headers["X-Request-Id"]] = cost
            self.statuses[response.status_code] += 1

    @staticmethod
    def _cost(response: requests.Response, streamed: bool) -> Decimal:
        import json  # parse_float keeps cost_eur's exact digits

        if response.status_code != 200:
            response.close()
            return Decimal(0)
        if not streamed:
            return json.loads(response.content, parse_float=Decimal)["aqta"]["cost_eur"]
        cost = None
        for line in response.iter_lines():
            if line.startswith(b"data: {"):
                chunk = json.loads(line[6:], parse_float=Decimal)
                cost = chunk.get("aqta", {}).get("cost_eur", cost)
        return Decimal(cost)


def run(total: int, clients: int, workers: int, redis_url: str, database_url: str | None,
        kill_at: float, pause: float) -> int:
    with tempfile.TemporaryDirectory() as folder:
        stream = f"aqta-bench:request-log:{uuid.uuid4().hex[:12]}"
        namespace = f"aqta-bench-{uuid.uuid4().hex[:12]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))}
        env.update(DATABASE_URL=database_url or f"sqlite:///{folder}/bench.db", REDIS_URL=redis_url,
                   REQUEST_LOG_STREAM=stream, JOBS_NAMESPACE=namespace, LOG_LEVEL="WARNING",
                   SECRET_KEY="benchmark-secret-key-0123456789", REQUEST_JOURNAL_DIR=f"{folder}/journal")
        email = f"kill-{uuid.uuid4().hex[:8]}@example.com"
        subprocess.run([AQTA, "migrate"], env=env, cwd=folder, check=True, capture_output=True)
        user_id, key = create_key(env, folder, email, rpm=1_000_000)
        _, limited_key = create_key(env, folder, email, rpm=30)
        port = free_port()
        server_log = open(f"{folder}/serve.log", "wb")  # noqa: SIM115  (closed below)
        server = subprocess.Popen([AQTA, "serve", "--port", str(port), "--workers", str(workers)],
                                  env=env, cwd=folder, stdout=server_log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        monitor = redis.Redis.from_url(redis_url)
        worker = start_worker(env, folder)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server)
            load = Clients(base, key, limited_key)
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                futures = [pool.submit(load.request, number) for number in range(total)]
                while sum(f.done() for f in futures) < kill_at * total:
                    time.sleep(0.01)
                deadline = time.monotonic() + 5
                while not pending(monitor, stream) and time.monotonic() < deadline:
                    time.sleep(0.0005)
                in_flight = pending(monitor, stream)
                kill_group(worker)
                killed_after = sum(f.done() for f in futures)
                time.sleep(pause)
                worker = start_worker(env, folder)
                for future in futures:
                    future.result()
            sent_for = time.monotonic() - started
            logged, cost, drain_wait = wait_for_log(env["DATABASE_URL"], user_id, len(load.received))
            ids = logged_ids(env["DATABASE_URL"], user_id)
        finally:
            kill_group(worker)
            kill_group(server, signal.SIGTERM)  # gunicorn stops its workers
            server_log.close()
            for name in [stream, f"{stream}:rejected", *monitor.scan_iter(f"{namespace}*")]:
                monitor.delete(name)
            monitor.close()
    sent_cost = sum(load.received.values(), Decimal(0))
    missing, extra = set(load.received) - ids, ids - set(load.received)
    backend = env["DATABASE_URL"].split(":")[0]
    print(f"requests={total} clients={clients} web_workers={workers} database={backend} "
          f"sent_in={sent_for:.1f}s ({total / sent_for:.0f}/s)")
    print(f"worker SIGKILLed after {killed_after} responses with {in_flight} entries read but "
          f"unacknowledged (a batch in flight), restarted {pause:.1f}s later")
    print(f"responses by status: {dict(sorted(load.statuses.items()))}  no response: {load.failures}")
    print(f"clients received: {len(load.received)} responses, cost_eur sum {sent_cost}")
    print(f"request log holds: {logged} rows, cost_eur sum {cost} "
          f"(all there {drain_wait:.1f}s after the last response)")
    print(f"missing from the log: {len(missing)}  in the log but never received: {len(extra)}")
    exact = logged == len(load.received) and cost == sent_cost and not missing and not extra
    print("EXACT" if exact else "MISMATCH")
    return 0 if exact else 1


def wait_for_log(database_url: str, user_id: str, expected: int, seconds: float = 120):
    """Poll the log until it holds ``expected`` rows (or time runs out): (rows, cost, seconds waited)."""
    import storage.requests as requests_repo
    from storage.database import bind_database, close_connection

    bind_database(database_url)
    started = time.monotonic()
    count = requests_repo.count_for_user(user_id)
    while count < expected and time.monotonic() - started < seconds:
        time.sleep(0.2)
        count = requests_repo.count_for_user(user_id)
    time.sleep(1.5)  # anything more (a duplicate would be one) has a second to show up
    count, cost = requests_repo.count_for_user(user_id), requests_repo.cost_for_user(user_id)
    close_connection()
    return count, cost, time.monotonic() - started


def logged_ids(database_url: str, user_id: str) -> set[str]:
    import storage.requests as requests_repo
    from storage.database import bind_database, close_connection

    bind_database(database_url)
    ids = {record.request_id for record in requests_repo.list_for_user(user_id)}
    close_connection()
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction of responses before the kill")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds the worker stays dead")
    args = parser.parse_args()
    return run(args.requests, args.clients, args.workers, args.redis_url, args.database_url,
               args.kill_at, args.pause)


if __name__ == "__main__":
    sys.exit(main())
