"""What the benchmark drives: the fake upstream itself (direct), Aqta (with a pro key, and
with a healthcare key whose every answer gets a receipt) and LiteLLM's proxy.

Each gateway is started as its users run it and pointed at the same fake upstream.
A target knows its URL, the key to send, and the processes whose RSS and CPU count.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from procs import Managed, tree

HERE = Path(__file__).resolve().parent
LITELLM_VENV = HERE / ".venv-litellm"
LITELLM_REQUIREMENTS = HERE / "requirements-litellm.txt"
LITELLM_CONSTRAINTS = HERE / "constraints-litellm.txt"
LITELLM_CONFIG = HERE / "litellm_config.yaml"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: nothing of the caller's gateway configuration leaks in."""
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def http_get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def http_post_json(url: str, payload: dict, timeout: float = 10.0) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_until(check, process: Managed | None, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{what} exited during start-up:\n{process.log_tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.25)
    tail = process.log_tail() if process else ""
    raise RuntimeError(f"{what} did not become ready in {seconds:.0f} s\n{tail}")


def start_fake_upstream(workdir: Path) -> str:
    """The fake upstream on a free port, answering; its base URL."""
    port = free_port()
    fake = Managed("fake-upstream", [sys.executable, str(HERE / "fake_upstream.py"), "--port", str(port)],
                   log_path=workdir / "fake-upstream.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_get(f"{url}/_stats") == 200, fake, "the fake upstream")
    return url


@dataclass
class Context:
    workdir: Path  # temporary: databases, logs
    upstream: str  # http://127.0.0.1:PORT of the fake upstream
    redis_url: str


class Target:
    name = "target"
    key: str | None = None
    url: str = ""
    workers: int = 0
    full = True  # every figure; a target may skip those that say nothing of what it compares

    def prepare(self) -> None:
        """One-off set-up before the first start (install, keys)."""

    def start(self, workers: int) -> None:
        self.workers = workers

    def stop(self) -> None:
        pass

    def pids(self) -> list[int]:
        """The gateway's processes (master and workers); empty for the direct target."""
        return []

    def worker_pids(self) -> list[int]:
        return []

    def versions(self) -> dict[str, str]:
        return {}


class Direct(Target):
    """The fake upstream called directly: the baseline every gateway figure is measured against."""

    name = "direct"

    def __init__(self, ctx: Context):
        self.url = ctx.upstream


class Aqta(Target):
    """``aqta serve`` (gunicorn, gevent workers) with Redis, SQLite and every feature on."""

    name = "Aqta"
    tier = "pro"

    def __init__(self, ctx: Context, *, drain_worker: bool = True):
        self.ctx = ctx
        self.folder = ctx.workdir / self.name.lower()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = base_env(
            REDIS_URL=ctx.redis_url, DATABASE_URL=f"sqlite:///{self.folder}/aqta.db",
            OPENAI_API_KEY="x", OPENAI_BASE_URL=f"{ctx.upstream}/v1",
            SECRET_KEY=secrets.token_urlsafe(32))
        self.drain_worker = drain_worker
        self.server: Managed | None = None
        self.drain: Managed | None = None

    def _aqta(self, *args: str) -> list[str]:
        result = subprocess.run([str(BIN / "aqta"), *args], env=self.env, cwd=self.folder,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"aqta {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout.strip().splitlines()

    def prepare(self) -> None:
        self._aqta("migrate")  # a new database: create-key makes none of its own
        lines = self._aqta("create-key", "--email", "bench@example.com", "--tier", self.tier,
                           "--name", "benchmark")
        self.key = lines[-1].strip()
        # "created [scope] key KEY_ID (name) for email"
        key_id = next(word for word in lines[-2].split() if word.startswith("key_"))
        self._aqta("set-limits", key_id, "--rpm", "10000000", "--monthly-quota", "100000000")
        self.key_id = key_id

    def start(self, workers: int) -> None:
        super().start(workers)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = Managed(f"aqta-serve-{workers}",
                              [str(BIN / "aqta"), "serve", "--port", str(port),
                               "--workers", str(workers)],
                              env=self.env, cwd=str(self.folder),
                              log_path=self.ctx.workdir / f"{self.name.lower()}-serve-{workers}.log")
        wait_until(lambda: http_get(f"{self.url}/readyz") == 200, self.server, "aqta serve")
        wait_until(lambda: len(self.worker_pids()) >= workers, self.server, "gunicorn workers")
        if self.drain_worker and self.drain is None:
            self.drain = Managed("aqta-worker", [str(BIN / "aqta"), "worker"], env=self.env,
                                 cwd=str(self.folder),
                                 log_path=self.ctx.workdir / f"{self.name.lower()}-worker.log")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def close(self) -> None:
        self.stop()
        if self.drain is not None:
            self.drain.stop()
            self.drain = None

    def pids(self) -> list[int]:
        return tree(self.server.pid) if self.server else []

    def worker_pids(self) -> list[int]:
        return self.pids()[1:]

    def drain_cpu_pids(self) -> list[int]:
        return tree(self.drain.pid) if self.drain and self.drain.alive() else []

    def versions(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        found = {}
        for name in ("aqta", "flask", "werkzeug", "gunicorn", "gevent", "greenlet", "requests",
                     "urllib3", "redis", "orjson", "flask-limiter", "peewee", "dramatiq"):
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                pass
        return found


class AqtaHealthcare(Aqta):
    """The same gateway, with a healthcare-tier key: every answer gets its receipt.

    Configured as the README's transparency log section says a deployment is: its own
    log origin, a signing key for the checkpoints (``aqta log generate-key``) and a
    receipt secret for the commitments. ``aqta worker`` beside it drains the receipts
    and the sealed risk cases from Redis, numbers the leaves, signs a checkpoint every
    second and classifies each answer, as in production.
    """

    name = "Aqta-healthcare"
    tier = "healthcare"
    full = False  # no soak, no 2-worker burst: run time, and nothing said of the key's cost

    def prepare(self) -> None:
        signing_key = self._aqta("log", "generate-key", "bench.aqta.local/healthcare-log")[0]
        self.env.update(LOG_ORIGIN="bench.aqta.local/healthcare-log", LOG_SIGNING_KEYS=signing_key,
                        RECEIPT_SECRET=secrets.token_urlsafe(32))
        super().prepare()

    def receipts(self, settle_seconds: float = 60) -> dict:
        """What reached the log: receipt leaves stored, sequenced, the latest checkpoint's size
        and the risk assessments made so far, once the log has caught up (no leaf pending and
        the counts unchanged for 3 s)."""
        deadline, last, stable = time.monotonic() + settle_seconds, None, 0
        while True:
            counts = self._log_counts()
            log = (counts["receipt_leaves"], counts["sequenced"], counts["pending"])
            stable = stable + 1 if log == last and counts["pending"] == 0 else 0
            if stable >= 3 or time.monotonic() > deadline:
                return counts
            last = log
            time.sleep(1)

    def _log_counts(self) -> dict:
        with sqlite3.connect(f"file:{self.folder}/aqta.db?mode=ro", uri=True, timeout=10) as db:
            def one(sql: str) -> int:
                return db.execute(sql).fetchone()[0] or 0
            return {
                "receipt_leaves": one("SELECT COUNT(*) FROM log_entries WHERE leaf_type = 'receipt'"),
                "sequenced": one("SELECT COUNT(*) FROM log_entries WHERE leaf_type = 'receipt' "
                                 "AND leaf_index IS NOT NULL"),
                "pending": one("SELECT COUNT(*) FROM log_entries WHERE leaf_index IS NULL"),
                "checkpoint_size": one("SELECT MAX(size) FROM log_checkpoints"),
                "risk_assessments": one("SELECT COUNT(*) FROM risk_assessments"),
            }


class LiteLLM(Target):
    """LiteLLM's proxy (uvicorn) from its own virtual environment, no database."""

    name = "LiteLLM"

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.key = "sk-bench-" + secrets.token_hex(16)
        self.server: Managed | None = None

    def prepare(self) -> None:
        ensure_litellm()

    def start(self, workers: int) -> None:
        super().start(workers)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = base_env(BENCH_UPSTREAM_BASE=f"{self.ctx.upstream}/v1", OPENAI_API_KEY="x",
                       LITELLM_MASTER_KEY=self.key, LITELLM_LOG="ERROR", LITELLM_MODE="PRODUCTION",
                       LITELLM_LOCAL_MODEL_COST_MAP="True")
        env["PATH"] = f"{LITELLM_VENV / 'bin'}:{env['PATH']}"
        self.server = Managed(f"litellm-{workers}",
                              [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(LITELLM_CONFIG),
                               "--host", "127.0.0.1", "--port", str(port),
                               "--num_workers", str(workers), "--telemetry", "False"],
                              env=env, cwd=str(self.ctx.workdir),
                              log_path=self.ctx.workdir / f"litellm-{workers}.log")
        wait_until(lambda: http_get(f"{self.url}/health/liveliness") == 200, self.server,
                   "litellm", seconds=180)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def pids(self) -> list[int]:
        return tree(self.server.pid) if self.server else []

    def worker_pids(self) -> list[int]:
        pids = self.pids()
        return pids[1:] or pids  # one worker: uvicorn serves in the litellm process itself

    def versions(self) -> dict[str, str]:
        names = ["litellm", "uvicorn", "fastapi", "starlette", "httpx", "aiohttp", "openai",
                 "pydantic", "uvloop"]
        code = ("import json, importlib.metadata as m\n"
                f"print(json.dumps({{n: m.version(n) for n in {names!r}}}))")
        result = subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-c", code],
                                capture_output=True, text=True, timeout=60)
        return json.loads(result.stdout) if result.returncode == 0 else {}


def ensure_litellm() -> None:
    """Create .venv-litellm and install the pinned proxy once; later runs reuse it."""
    marker = LITELLM_VENV / ".installed"
    wanted = LITELLM_REQUIREMENTS.read_text() + LITELLM_CONSTRAINTS.read_text()
    if marker.exists() and marker.read_text() == wanted:
        return
    print(f"installing LiteLLM's proxy into {LITELLM_VENV} (once) ...", flush=True)
    if not (LITELLM_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet",
                    "-r", str(LITELLM_REQUIREMENTS), "-c", str(LITELLM_CONSTRAINTS)], check=True)
    marker.write_text(wanted)
