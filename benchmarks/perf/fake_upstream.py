"""A fast fake OpenAI upstream for the benchmark: raw asyncio HTTP/1.1 with keep-alive.

It answers ``POST /v1/chat/completions`` like OpenAI does, as one ``chat.completion``
or as server-sent ``chat.completion.chunk`` events (chunked transfer encoding), with
a usage chunk when ``stream_options.include_usage`` is set. Its timing is set at
start and changed between benchmark phases with ``POST /_control``:

    {"delay_ms": 20, "chunks": 20, "chunk_ms": 50, "first_ms": 0}

``delay_ms`` delays a non-streamed answer; a stream sends its first chunk after
``first_ms`` and the rest ``chunk_ms`` apart. No framework and no per-request
allocation beyond the answer itself, so the upstream is never what a benchmark
measures (it serves well over 10,000 requests/s on one core).

    python benchmarks/perf/fake_upstream.py --port 9100 --delay-ms 20
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import time

try:
    import orjson

    def dumps(value) -> bytes:
        return orjson.dumps(value)

    loads = orjson.loads
except ImportError:  # the fake runs on any Python 3.11
    def dumps(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    loads = json.loads

WORDS = ("The quick brown fox jumps over the lazy dog while the benchmark counts "
         "every token that passes through the gateway under test today").split()
CONFIG = {"delay_ms": 0.0, "chunks": 20, "chunk_ms": 50.0, "first_ms": 0.0}
STATS = {"requests": 0, "streams": 0}


def completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def prompt_tokens(body: dict) -> int:
    chars = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
    return max(1, chars // 4)


def completion_body(body: dict, chunks: int) -> bytes:
    text = " ".join(WORDS[i % len(WORDS)] for i in range(chunks))
    prompt = prompt_tokens(body)
    return dumps({
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model") or "gpt-4o", "system_fingerprint": "fp_bench",
        "service_tier": "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                             "refusal": None, "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": chunks,
                  "total_tokens": prompt + chunks,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0,
                                                "rejected_prediction_tokens": 0}},
    })


ID_PLACEHOLDER = b"chatcmpl-" + b"X" * 24  # as long as completion_id()
_STREAM_TEMPLATES: dict[tuple, list[bytes]] = {}


def stream_events(body: dict, chunks: int) -> list[bytes]:
    """Every write of one stream: SSE events framed as HTTP chunks, the last one ending it.

    The events are built once per shape and only the id is replaced per stream, so a
    thousand streams opened at once cost the fake little.
    """
    model = body.get("model") or "gpt-4o"
    usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))
    prompt = prompt_tokens(body)
    shape = (model, usage_wanted, chunks, prompt)
    template = _STREAM_TEMPLATES.get(shape)
    if template is None:
        if len(_STREAM_TEMPLATES) > 1000:
            _STREAM_TEMPLATES.clear()
        template = _STREAM_TEMPLATES[shape] = stream_template(model, usage_wanted, chunks, prompt)
    ident = completion_id().encode()
    created = str(int(time.time())).encode()
    return [part.replace(ID_PLACEHOLDER, ident).replace(b"1000000000", created)
            for part in template]


def stream_template(model: str, usage_wanted: bool, chunks: int, prompt: int) -> list[bytes]:
    base = {"id": ID_PLACEHOLDER.decode(), "object": "chat.completion.chunk",
            "created": 1000000000, "model": model, "service_tier": "default",
            "system_fingerprint": "fp_bench"}
    extra = {"usage": None} if usage_wanted else {}
    payloads = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "",
                                                            "refusal": None},
                                      "logprobs": None, "finish_reason": None}], **extra}]
    for i in range(chunks):
        word = WORDS[i % len(WORDS)] + " "
        payloads.append({**base, "choices": [{"index": 0, "delta": {"content": word},
                                              "logprobs": None, "finish_reason": None}], **extra})
    payloads.append({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                          "finish_reason": "stop"}], **extra})
    if usage_wanted:
        payloads.append({**base, "choices": [], "usage": {
            "prompt_tokens": prompt, "completion_tokens": chunks, "total_tokens": prompt + chunks,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}})
    events = [b"data: " + dumps(p) + b"\n\n" for p in payloads]
    events.append(b"data: [DONE]\n\n")
    framed = [b"%x\r\n%s\r\n" % (len(e), e) for e in events]
    framed[-1] += b"0\r\n\r\n"
    # The role chunk goes out with the first content chunk, as OpenAI's usually does;
    # the finish, usage and [DONE] events go out together after the last content chunk.
    return [framed[0] + framed[1]] + framed[2:chunks + 1] + [b"".join(framed[chunks + 1:])]


def response_head(status: str, content_type: str, length: int | None) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: keep-alive\r\n"
    head += f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return head.encode() + b"\r\n"


class Connection(asyncio.Protocol):
    """One client connection: requests are answered one at a time, in order."""

    def __init__(self):
        self.buffer = b""
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.timers: list[asyncio.TimerHandle] = []

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc):
        for timer in self.timers:
            timer.cancel()
        self.transport = None

    def data_received(self, data: bytes):
        self.buffer += data
        if not self.busy:
            self.next_request()

    def next_request(self):
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.transport is None:
            return
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, consumed = self.dechunk(self.buffer[start:])
            if body is None:
                return
            rest = self.buffer[start + consumed:]
        else:
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) - start < length:
                return
            body, rest = self.buffer[start:start + length], self.buffer[start + length:]
        self.buffer = rest
        self.busy = True
        self.handle(method, path.split("?")[0], body)

    @staticmethod
    def dechunk(data: bytes) -> tuple[bytes | None, int]:
        body, pos = b"", 0
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return None, 0
            size = int(data[pos:line_end].split(b";")[0], 16)
            if size == 0:
                trailer_end = data.find(b"\r\n", line_end + 2)
                return (body, trailer_end + 2) if trailer_end >= 0 else (None, 0)
            if len(data) < line_end + 2 + size + 2:
                return None, 0
            body += data[line_end + 2:line_end + 2 + size]
            pos = line_end + 2 + size + 2

    def finish(self):
        self.timers.clear()
        self.busy = False
        if self.buffer:
            self.next_request()

    def send(self, data: bytes, last: bool = False):
        if self.transport is not None:
            self.transport.write(data)
        if last:
            self.finish()

    def stream_step(self, events: list[bytes], i: int, start: float):
        """Send write ``i`` of a stream and schedule the next, on a fixed clock (no drift)."""
        last = i == len(events) - 1
        self.send(events[i], last)
        if not last and self.transport is not None:
            when = start + (i + 1) * CONFIG["chunk_ms"] / 1000
            self.timers[:] = [asyncio.get_running_loop().call_at(when, self.stream_step,
                                                                  events, i + 1, start)]

    def reply_json(self, payload: bytes, status: str = "200 OK"):
        self.send(response_head(status, "application/json", len(payload)) + payload, last=True)

    def handle(self, method: str, path: str, raw: bytes):
        loop = asyncio.get_running_loop()
        if path.endswith("/chat/completions") and method == "POST":
            try:
                body = loads(raw)
            except ValueError:
                return self.reply_json(b'{"error":{"message":"bad json","type":"invalid_request_error"}}',
                                       "400 Bad Request")
            STATS["requests"] += 1
            chunks = int(CONFIG["chunks"])
            if body.get("stream"):
                STATS["streams"] += 1
                events = stream_events(body, chunks)
                events[0] = response_head("200 OK", "text/event-stream", None) + events[0]
                start = loop.time() + CONFIG["first_ms"] / 1000
                if CONFIG["first_ms"] > 0:
                    self.timers.append(loop.call_at(start, self.stream_step, events, 0, start))
                else:
                    self.stream_step(events, 0, start)
                return
            payload = completion_body(body, chunks)
            delay = CONFIG["delay_ms"] / 1000
            if delay > 0:
                self.timers.append(loop.call_later(delay, self.reply_json, payload))
            else:
                self.reply_json(payload)
        elif path == "/_control" and method == "POST":
            CONFIG.update({k: float(v) for k, v in loads(raw or b"{}").items() if k in CONFIG})
            self.reply_json(dumps({**CONFIG, **STATS}))
        elif path == "/_stats":
            self.reply_json(dumps({**CONFIG, **STATS}))
        elif path.endswith("/models"):
            self.reply_json(dumps({"object": "list", "data": [
                {"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "bench"}]}))
        else:
            self.reply_json(b'{"error":{"message":"not found","type":"invalid_request_error"}}',
                            "404 Not Found")


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def serve(sock: socket.socket):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, sock=sock, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    for name, default in CONFIG.items():
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=default)
    args = parser.parse_args()
    CONFIG.update({name: getattr(args, name) for name in CONFIG})
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the fake upstream listens on loopback only")
    asyncio.run(serve(listening_socket(args.host, args.port)))


if __name__ == "__main__":
    main()
