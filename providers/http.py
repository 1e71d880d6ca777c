"""The chat and stream skeleton every HTTP provider shares, over one pooled transport.

``HttpProvider.chat`` and ``HttpProvider.stream`` are written once (the template
method): build the URL, POST, map errors, read the answer or the server-sent
events, close. A provider fills in only what differs: its ``headers``, its
``chat_path``/``stream_path``, ``to_upstream`` (the request in its wire format),
``from_upstream`` (its answer as a ``chat.completion``) and ``stream_translator``
(a ``StreamTranslator`` turning its events into OpenAI chunks).

The transport is urllib3's pool manager and orjson, used directly: requests'
session layer on top of them more than doubled the CPU each upstream call costs.
Errors below HTTP become ours at this boundary, as requests' ``HTTPAdapter.send``
does for urllib3's.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import orjson
import urllib3
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPSConnectionPool, PoolManager, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util import parse_url

from providers.base import ChatRequest, ChatResponse, Provider, ProviderSettings
from providers.errors import ProviderError, ProviderTimeout
from providers.sockets import has_input
from providers.sse import iter_lines, iter_sse

# What urllib3 raises below HTTP: its own errors (timeouts, refused or broken connections,
# protocol errors) and, seldom, a socket's plain OSError.
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
# Accept-Encoding as requests sent it: compressed answers stay welcome upstream.
REQUEST_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate"}
MAX_ROUTES = 256  # URLs a pool manager remembers (a provider posts to a handful; Gemini's name the model)


class StreamTranslator(Protocol):
    """Turns one upstream stream's events into OpenAI chunks; one instance per stream."""

    def feed(self, event: str | None, data: str) -> Iterable[dict]:
        """The chunks one server-sent event (its name and data) becomes; may be none."""

    def finish(self) -> Iterable[dict]:
        """The closing chunks once the upstream stream ended; ProviderError if it ended early."""


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

    # -- what a provider supplies -----------------------------------------------------
    def headers(self) -> dict[str, str]:
        """Authentication and version headers for every upstream call."""
        return {}

    def chat_path(self, request: ChatRequest) -> str:
        raise NotImplementedError

    def stream_path(self, request: ChatRequest) -> str:
        return self.chat_path(request)

    def to_upstream(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The upstream's request body; UnsupportedRequest for what cannot be expressed."""
        raise NotImplementedError

    def from_upstream(self, body: Any, request: ChatRequest) -> ChatResponse:
        """The ``chat.completion`` for the upstream's parsed answer."""
        raise NotImplementedError

    def stream_translator(self, request: ChatRequest) -> StreamTranslator:
        raise NotImplementedError

    # -- the skeleton -----------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResponse:
        response = self.post(self.chat_path(request), self.to_upstream(request, stream=False))
        try:
            body = self.read_json(response)
        finally:
            response.close()
        return self.from_upstream(body, request)

    def stream(self, request: ChatRequest) -> Iterator[dict]:
        """Translate now (a bad request fails at the call); call upstream on the first ``next``."""
        payload = self.to_upstream(request, stream=True)
        return self._stream(self.stream_path(request), payload, self.stream_translator(request))

    def _stream(self, path: str, payload: dict, translator: StreamTranslator) -> Iterator[dict]:
        response = self.post(path, payload, stream=True)
        events = self.events(response)
        try:
            yield from self.relay(events, translator)
        finally:
            events.close()  # closes the upstream response, also when the client goes away
            response.close()  # and when the events never started

    @staticmethod
    def relay(events: Iterable[tuple[str | None, str]],
              translator: StreamTranslator) -> Iterator[dict]:
        """OpenAI chunks for upstream events, through the provider's translator."""
        for event, data in events:
            yield from translator.feed(event, data)
        yield from translator.finish()

    # -- the transport ----------------------------------------------------------------
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

    def read_json(self, response: BaseHTTPResponse) -> Any:
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


class _RoutingPoolManager(PoolManager):
    """A PoolManager that remembers each URL's pool and request-uri.

    urllib3's ``PoolManager.urlopen`` parses the URL and builds a pool key on every
    call; a provider posts to the same few URLs all its life. A URL is parsed and its
    pool found once; the routes are forgotten when the manager is cleared or makes a
    pool (which may evict one a route names). Calls that may follow a redirect take
    urllib3's own path. (Not for proxies: a ProxyManager overrides ``urlopen`` itself.)
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._routes: dict[str, tuple[HTTPConnectionPool, str]] = {}

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> BaseHTTPResponse:
        if redirect:
            return super().urlopen(method, url, redirect=redirect, **kw)
        route = self._routes.get(url)
        if route is None:
            parsed = parse_url(url)
            if parsed.scheme is None:  # urllib3 warns; let it
                return super().urlopen(method, url, redirect=redirect, **kw)
            if len(self._routes) >= MAX_ROUTES:
                self._routes.clear()
            route = self._routes[url] = (
                self.connection_from_host(parsed.host, port=parsed.port, scheme=parsed.scheme),
                parsed.request_uri)
        # What PoolManager.urlopen does for a URL without a proxy, when it follows no redirect.
        kw["assert_same_host"] = False
        kw["redirect"] = False
        kw.setdefault("headers", self.headers)
        return route[0].urlopen(method, route[1], **kw)

    def connection_from_pool_key(self, pool_key: Any, request_context: dict[str, Any]) -> HTTPConnectionPool:
        if pool_key not in self.pools:
            self._routes.clear()
        return super().connection_from_pool_key(pool_key, request_context)

    def clear(self) -> None:
        self._routes.clear()
        super().clear()


def pooled_manager(pool_size: int, timeout: Timeout) -> PoolManager:
    """Keep-alive connections per upstream host, up to ``pool_size`` (a gevent worker's concurrency)."""
    manager = _RoutingPoolManager(num_pools=4, maxsize=pool_size, block=False, retries=False,
                                  timeout=timeout)
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
