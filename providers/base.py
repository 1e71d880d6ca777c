"""The Provider interface, its errors, and the pooled HTTP transport every provider shares.

A provider turns an OpenAI-format chat request into its upstream's wire format,
calls the upstream, and turns the answer (or each stream event) back into
OpenAI's format. Translation lives in pure functions in each provider module;
this module holds what is common: the data types, the HTTP transport (urllib3's
pool manager and orjson, used directly: requests' session layer on top of them
more than doubled the CPU each upstream call costs), the error mapping at that
boundary (as requests' ``HTTPAdapter.send`` does for urllib3), and server-sent-event
parsing.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import urllib3
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPSConnectionPool, PoolManager, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection

from providers.errors import ProviderError, ProviderTimeout
from providers.sockets import has_input

# What urllib3 raises below HTTP: its own errors (timeouts, refused or broken connections,
# protocol errors) and, seldom, a socket's plain OSError.
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
# Accept-Encoding as requests sent it: compressed answers stay welcome upstream.
REQUEST_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate"}


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens}


@dataclass(frozen=True)
class ChatRequest:
    """A validated OpenAI chat request, plus the model name the upstream knows.

    ``body`` is the client's request as OpenAI defines it (``model`` there is what the
    client asked for); ``model`` is the upstream's own name for it, after routing.
    """

    model: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ChatResponse:
    """An OpenAI ``chat.completion`` object (without Aqta's block) and its usage."""

    body: dict[str, Any]
    usage: Usage


@dataclass(frozen=True)
class ProviderSettings:
    api_key: str | None = None
    base_url: str | None = None
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 120.0  # seconds, between bytes, not for the whole answer
    pool_size: int = 1000  # connections kept open per upstream host (a gevent worker's concurrency)
    extra: dict[str, Any] = field(default_factory=dict)


class Provider:
    """One upstream behind OpenAI's chat format.

    ``chat`` returns the whole answer; ``stream`` yields OpenAI
    ``chat.completion.chunk`` dicts and must end with a chunk whose ``usage`` is
    set (``choices`` empty, as OpenAI sends with ``include_usage``) whenever the
    upstream reports usage. The stream is a generator: closing it closes the
    upstream connection at once.
    """

    name: str = "base"

    def __init__(self, settings: ProviderSettings):
        self.settings = settings

    def chat(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> Iterator[dict]:
        raise NotImplementedError

    def models(self) -> list[str]:
        """Model names this provider serves, as listed in the model registry."""
        return []


class HttpProvider(Provider):
    """A provider that talks HTTP through one pooled, gevent-safe ``urllib3.PoolManager``.

    ``pool`` lets tests hand in their own manager; the provider's settings still decide
    the timeouts, and nothing is retried or redirected.
    """

    default_base_url: str = ""

    def __init__(self, settings: ProviderSettings, pool: PoolManager | None = None):
        super().__init__(settings)
        self.base_url = (settings.base_url or self.default_base_url).rstrip("/")
        self.timeout = Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
        self.pool = pool or pooled_manager(settings.pool_size, self.timeout)

    def headers(self) -> dict[str, str]:
        """Authentication and version headers for every upstream call."""
        return {}

    def post(self, path: str, payload: dict, *, stream: bool = False) -> BaseHTTPResponse:
        """POST JSON upstream; every transport failure leaves here as a ProviderError.

        Without ``stream`` the body is read at once and the connection is back in the
        pool when this returns; with it, read the body through ``events``.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        try:
            response = self.pool.urlopen(
                "POST", url, body=orjson.dumps(payload),
                headers={**REQUEST_HEADERS, **self.headers()},
                preload_content=not stream, retries=False, redirect=False, timeout=self.timeout)
            if response.status >= 400:
                try:
                    message = upstream_error_message(response)
                finally:
                    response.close()
                raise ProviderError(self.name, upstream_status=response.status,
                                    upstream_message=message)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc) from exc
        return response

    def read_json(self, response: BaseHTTPResponse) -> dict:
        try:
            return orjson.loads(response.data)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc, upstream_status=response.status,
                                  context="unreadable body") from exc
        except ValueError as exc:  # orjson.JSONDecodeError: not JSON, or not UTF-8
            raise ProviderError(self.name, upstream_status=response.status,
                                upstream_message=f"unreadable body: {exc}") from exc

    def events(self, response: BaseHTTPResponse) -> Iterator[tuple[str | None, str]]:
        """Server-sent events from an upstream response, read errors mapped to ours.

        Each chunk is parsed as it arrives. A body read to the end gives its connection
        back to the pool; closing this generator early closes the connection.
        """
        try:
            yield from iter_sse(iter_lines(response.stream(None)))
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.name, exc, context="stream broke") from exc
        finally:
            response.close()


class _QuickCheckHTTPConnection(HTTPConnection):
    @property
    def is_connected(self) -> bool:  # asked before each reuse; see providers.sockets
        return self.sock is not None and not has_input(self.sock)


class _QuickCheckHTTPSConnection(HTTPSConnection):
    @property
    def is_connected(self) -> bool:
        # TLS may hold decrypted bytes the socket no longer shows: only the cheap "no" is ours.
        return self.sock is not None and (not has_input(self.sock) or super().is_connected)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _QuickCheckHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _QuickCheckHTTPSConnection


def pooled_manager(pool_size: int, timeout: Timeout) -> PoolManager:
    """Keep-alive connections per upstream host, up to ``pool_size`` (a gevent worker's concurrency)."""
    manager = PoolManager(num_pools=4, maxsize=pool_size, block=False, retries=False, timeout=timeout)
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


def transport_error(provider: str, exc: Exception, *, upstream_status: int | None = None,
                    context: str | None = None) -> ProviderError | ProviderTimeout:
    """Our error for a failure below HTTP: a connect or read timeout is a 504, the rest 502.

    urllib3's NewConnectionError (a refused or unresolvable host) subclasses its
    ConnectTimeoutError, but nothing waited there: it is an error, not a timeout.
    """
    if (isinstance(exc, urllib3.exceptions.TimeoutError)
            and not isinstance(exc, urllib3.exceptions.NewConnectionError)):
        return ProviderTimeout(provider)
    message = f"{context}: {exc}" if context else str(exc)
    return ProviderError(provider, upstream_status=upstream_status, upstream_message=message)


def upstream_error_message(response: BaseHTTPResponse) -> str:
    """The upstream's own error message, for the log (bounded in size)."""
    text = response.data.decode("utf-8", "replace")[:2000]
    try:
        error = orjson.loads(text).get("error")
    except (ValueError, AttributeError):
        return text
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or text)


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a body that arrives in chunks, without their CR, LF or CRLF ends.

    A line is yielded as soon as its end has arrived; a CR at the end of a chunk waits
    for the next chunk, which may start with the LF of the same CRLF.
    """
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk if pending else chunk).splitlines(keepends=True)
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            yield line.rstrip(b"\r\n")
    if pending:
        yield pending.rstrip(b"\r\n")


def iter_sse(lines: Iterator[bytes]) -> Iterator[tuple[str | None, str]]:
    """Parse server-sent events: yield (event name or None, data) per event."""
    event: str | None = None
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)
