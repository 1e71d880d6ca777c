"""The Provider interface, its errors, and the pooled HTTP transport every provider shares.

A provider turns an OpenAI-format chat request into its upstream's wire format,
calls the upstream, and turns the answer (or each stream event) back into
OpenAI's format. Translation lives in pure functions in each provider module;
this module holds what is common: the data types, the error mapping at the
transport boundary (as requests' ``HTTPAdapter.send`` does for urllib3), and
server-sent-event parsing.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from app.errors import AqtaError


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


class ProviderError(AqtaError):
    """The upstream failed: an HTTP error, a refused connection, or a broken stream.

    The client is told which provider failed; the upstream's status and message
    are kept on the error for the log, not sent to the client.
    """

    status = 502
    code = "provider_error"

    def __init__(self, provider: str, *, upstream_status: int | None = None,
                 upstream_message: str | None = None):
        detail = f" (upstream HTTP {upstream_status})" if upstream_status else ""
        super().__init__(f"The upstream provider '{provider}' failed{detail}.")
        self.provider = provider
        self.upstream_status = upstream_status
        self.upstream_message = upstream_message


class ProviderTimeout(AqtaError):
    status = 504
    code = "provider_timeout"

    def __init__(self, provider: str):
        super().__init__(f"The upstream provider '{provider}' did not answer in time.")
        self.provider = provider


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
    """A provider that talks HTTP through one pooled, gevent-safe ``requests.Session``."""

    default_base_url: str = ""

    def __init__(self, settings: ProviderSettings, session: requests.Session | None = None):
        super().__init__(settings)
        self.base_url = (settings.base_url or self.default_base_url).rstrip("/")
        self.session = session or pooled_session(settings.pool_size)

    def headers(self) -> dict[str, str]:
        """Authentication and version headers for every upstream call."""
        return {}

    def post(self, path: str, payload: dict, *, stream: bool = False) -> requests.Response:
        """POST JSON upstream; every transport failure leaves here as a ProviderError."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        try:
            response = self.session.post(
                url, data=json.dumps(payload), stream=stream,
                headers={"Content-Type": "application/json", **self.headers()},
                timeout=(self.settings.connect_timeout, self.settings.read_timeout))
        except requests.Timeout as exc:
            raise ProviderTimeout(self.name) from exc
        except requests.RequestException as exc:
            raise ProviderError(self.name, upstream_message=str(exc)) from exc
        if response.status_code >= 400:
            try:
                message = upstream_error_message(response)
            finally:
                response.close()
            raise ProviderError(self.name, upstream_status=response.status_code,
                                upstream_message=message)
        return response

    def read_json(self, response: requests.Response) -> dict:
        try:
            return response.json()
        except requests.Timeout as exc:
            raise ProviderTimeout(self.name) from exc
        except requests.ConnectionError as exc:
            if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                raise ProviderTimeout(self.name) from exc
            raise ProviderError(self.name, upstream_status=response.status_code,
                                upstream_message=f"unreadable body: {exc}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderError(self.name, upstream_status=response.status_code,
                                upstream_message=f"unreadable body: {exc}") from exc

    def events(self, response: requests.Response) -> Iterator[tuple[str | None, str]]:
        """Server-sent events from an upstream response, read errors mapped to ours."""
        try:
            yield from iter_sse(response.iter_lines(chunk_size=None))
        except requests.Timeout as exc:
            raise ProviderTimeout(self.name) from exc
        except requests.ConnectionError as exc:
            # requests reports a read timeout inside a streamed body as a ConnectionError
            # wrapping urllib3's ReadTimeoutError; a stalled stream is a timeout.
            if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                raise ProviderTimeout(self.name) from exc
            raise ProviderError(self.name, upstream_message=f"stream broke: {exc}") from exc
        except requests.RequestException as exc:
            raise ProviderError(self.name, upstream_message=f"stream broke: {exc}") from exc
        finally:
            response.close()


def pooled_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def upstream_error_message(response: requests.Response) -> str:
    """The upstream's own error message, for the log (bounded in size)."""
    text = response.text[:2000]
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or text)


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
