"""The benchmark's gevent client: latency, streams (TTFT and gaps between chunks) and soak load.

A raw-socket HTTP/1.1 client with keep-alive, so that the client costs the same
against every target and little enough not to be what is measured. Each command
prints one JSON object on stdout. Bounded in count and time; loopback only.

    python loadgen.py latency --url http://127.0.0.1:8000 --key K --total 2000 --concurrency 1
    python loadgen.py streams --url ... --total 500 --concurrency 500
    python loadgen.py soak --url ... --seconds 60 --concurrency 16 --stream-concurrency 16
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.pool import Pool  # noqa: E402

PATH = "/v1/chat/completions"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
RECV = 65536  # bytes per recv


class HttpError(Exception):
    pass


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": max(values), "mean": sum(values) / len(values)}


class Prompts:
    """Distinct prompts: loop detection masks short numbers, so the counter has nine digits."""

    def __init__(self, nonce: str, model: str, stream: bool):
        self.nonce, self.model, self.stream = nonce, model, stream
        self.counter = itertools.count(100_000_001)

    def body(self) -> bytes:
        payload = {"model": self.model, "messages": [
            {"role": "system", "content": "You are a terse assistant used in a benchmark."},
            {"role": "user", "content": f"Benchmark run {self.nonce}, request {next(self.counter)}: "
                                        "answer in one sentence."}]}
        if self.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return json.dumps(payload, separators=(",", ":")).encode()


class Connection:
    """One keep-alive HTTP/1.1 connection to the target."""

    def __init__(self, host: str, port: int, key: str | None):
        self.host, self.port = host, port
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        self.head = (f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
                     "Content-Type: application/json\r\nAccept: */*\r\n").encode()
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def send(self, body: bytes) -> None:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _fill(self) -> bool:
        data = self.sock.recv(RECV)
        if not data:
            return False
        self.buffer += data
        return True

    def read_head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise HttpError("connection closed before the response head")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        return status, headers

    def pieces(self, headers: dict[str, str]):
        """The body as it arrives: yields (bytes, arrival time); closes when needed."""
        if "chunked" in headers.get("transfer-encoding", ""):
            while True:
                while b"\r\n" not in self.buffer:
                    if not self._fill():
                        raise HttpError("connection closed inside a chunked body")
                size_line, rest = self.buffer.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while b"\r\n" not in rest:  # the (empty) trailer
                        if not self._fill():
                            raise HttpError("connection closed in the trailer")
                        rest = self.buffer.split(b"\r\n", 1)[1]
                    self.buffer = rest.split(b"\r\n", 1)[1]
                    break
                self.buffer = rest
                while len(self.buffer) < size + 2:
                    if not self._fill():
                        raise HttpError("connection closed inside a chunk")
                yield self.buffer[:size], time.perf_counter()
                self.buffer = self.buffer[size + 2:]
        elif "content-length" in headers:
            length = int(headers["content-length"])
            while len(self.buffer) < length:
                if not self._fill():
                    raise HttpError("connection closed inside the body")
            body, self.buffer = self.buffer[:length], self.buffer[length:]
            yield body, time.perf_counter()
        else:  # read to close
            if self.buffer:
                yield self.buffer, time.perf_counter()
                self.buffer = b""
            while True:
                data = self.sock.recv(RECV)
                if not data:
                    break
                yield data, time.perf_counter()
            self.close()
            return
        if headers.get("connection") == "close":
            self.close()


def one_request(conn: Connection, body: bytes) -> tuple[float, int]:
    """A non-streamed call: (seconds, status)."""
    started = time.perf_counter()
    try:
        conn.send(body)
        status, headers = conn.read_head()
        data = b"".join(piece for piece, _ in conn.pieces(headers))
    except (OSError, HttpError):
        conn.close()
        raise
    if status == 200 and b'"choices"' not in data:
        status = 599  # a 200 that is not a completion
    return time.perf_counter() - started, status


def one_stream(conn: Connection, body: bytes) -> dict:
    """A streamed call: TTFT, gaps between events, event count, completion."""
    started = time.perf_counter()
    try:
        conn.send(body)
        status, headers = conn.read_head()
        if status != 200:
            for _ in conn.pieces(headers):
                pass
            return {"status": status}
        pending, times, done = b"", [], False
        for piece, at in conn.pieces(headers):
            pending += piece
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                if event.startswith(b"data:"):
                    times.append(at)
                    if event[5:].strip() == b"[DONE]":
                        done = True
    except (OSError, HttpError) as exc:
        conn.close()
        return {"status": 0, "error": str(exc)[:200]}
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {"status": 200 if done else 598, "ttft": times[0] - started if times else None,
            "total": time.perf_counter() - started, "events": len(times),
            "max_gap": max(gaps) if gaps else 0.0, "gaps": gaps}


def target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"loadgen only targets loopback, not {parts.hostname}")
    return parts.hostname, parts.port or 80


def run_latency(args) -> dict:
    host, port = target(args.url)
    prompts = Prompts(args.nonce, args.model, stream=False)
    times, statuses, errors = [], {}, 0
    left = itertools.count()
    deadline = time.monotonic() + args.max_seconds

    def worker():
        nonlocal errors
        conn = Connection(host, port, args.key)
        while next(left) < args.total and time.monotonic() < deadline:
            try:
                seconds, status = one_request(conn, prompts.body())
            except (OSError, HttpError):
                errors += 1
                continue
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                times.append(seconds * 1000)
        conn.close()

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(worker) for _ in range(args.concurrency)])
    wall = time.perf_counter() - started
    return {"latency_ms": summary(times), "statuses": statuses, "errors": errors,
            "wall_s": wall, "rps": len(times) / wall if wall else 0}


def run_streams(args) -> dict:
    """``total`` streams, ``concurrency`` at a time; all of a round start together."""
    host, port = target(args.url)
    prompts = Prompts(args.nonce, args.model, stream=True)
    results = []
    left = itertools.count()
    deadline = time.monotonic() + args.max_seconds
    gate = Event()

    def worker():
        conn = Connection(host, port, args.key)
        gate.wait()
        while next(left) < args.total and time.monotonic() < deadline:
            results.append(one_stream(conn, prompts.body()))
        conn.close()

    workers = [gevent.spawn(worker) for _ in range(args.concurrency)]
    gevent.sleep(0.05)
    started = time.perf_counter()
    gate.set()
    gevent.joinall(workers, timeout=args.max_seconds + 30)
    wall = time.perf_counter() - started
    ok = [r for r in results if r["status"] == 200]
    gaps = [g * 1000 for r in ok for g in r["gaps"]]
    statuses = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    errors = [r["error"] for r in results if r.get("error")][:3]
    return {"streams": len(results), "ok": len(ok), "statuses": statuses, "errors": errors,
            "unfinished": args.total - len(results), "wall_s": wall,
            "ttft_ms": summary([r["ttft"] * 1000 for r in ok]),
            "total_ms": summary([r["total"] * 1000 for r in ok]),
            "gap_ms": summary(gaps),
            "max_gap_ms": max((r["max_gap"] * 1000 for r in ok), default=None),
            "events_min": min((r["events"] for r in ok), default=0)}


def run_soak(args) -> dict:
    """Steady mixed load for ``seconds``: non-streamed and streamed callers side by side."""
    host, port = target(args.url)
    plain, streamed = Prompts(args.nonce, args.model, False), Prompts(args.nonce + "s", args.model, True)
    counts = {"requests": 0, "streams": 0, "errors": 0, "non_200": 0}
    deadline = time.monotonic() + args.seconds

    def worker(stream: bool):
        conn = Connection(host, port, args.key)
        while time.monotonic() < deadline:
            try:
                if stream:
                    status = one_stream(conn, streamed.body())["status"]
                    counts["streams"] += 1
                else:
                    status = one_request(conn, plain.body())[1]
                    counts["requests"] += 1
            except (OSError, HttpError):
                counts["errors"] += 1
                gevent.sleep(0.1)
                continue
            if status != 200:
                counts["non_200"] += 1
        conn.close()

    pool = Pool(args.concurrency + args.stream_concurrency)
    for _ in range(args.concurrency):
        pool.spawn(worker, False)
    for _ in range(args.stream_concurrency):
        pool.spawn(worker, True)
    pool.join(timeout=args.seconds + 120)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("latency", "streams", "soak"):
        p = sub.add_parser(name)
        p.add_argument("--url", required=True)
        p.add_argument("--key", default=None)
        p.add_argument("--model", default="gpt-4o")
        p.add_argument("--nonce", default=str(100_000 + int.from_bytes(os.urandom(3)) % 900_000),
                       help="six digits: loop detection masks short numbers, not these")
        p.add_argument("--concurrency", type=int, default=1)
        if name == "soak":
            p.add_argument("--seconds", type=float, required=True)
            p.add_argument("--stream-concurrency", type=int, default=0)
        else:
            p.add_argument("--total", type=int, required=True)
            p.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    result = {"latency": run_latency, "streams": run_streams, "soak": run_soak}[args.command](args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
