"""The shared transport's pure parts: splitting a chunked body into lines, mapping errors."""
from __future__ import annotations

import pytest
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from providers.errors import ProviderError, ProviderTimeout
from providers.http import transport_error
from providers.sse import iter_lines, iter_sse


@pytest.mark.parametrize("chunks, lines", [
    ([], []),
    ([b"data: a\n\n"], [b"data: a", b""]),
    ([b"data: a\r\n\r\n"], [b"data: a", b""]),
    ([b"data: a\r", b"\n\r\n"], [b"data: a", b""]),  # a CRLF split between chunks
    ([b"da", b"ta: a", b"\n", b"\n"], [b"data: a", b""]),
    ([b"data: a\rdata: b\r\r"], [b"data: a", b"data: b", b""]),  # CR alone ends lines too
    ([b"data: a\n\ndata: b"], [b"data: a", b"", b"data: b"]),  # no end after the last line
    ([b"data: \xc3", b"\xa9\n"], [b"data: \xc3\xa9"]),  # a character split between chunks
])
def test_iter_lines(chunks, lines):
    assert list(iter_lines(chunks)) == lines


def test_iter_lines_yields_a_line_as_soon_as_it_ends():
    def chunks():
        yield b"event: one\ndata: 1\n\nda"
        raise AssertionError("read past the end of a complete event")

    events = iter_sse(iter_lines(chunks()))
    assert next(events) == ("one", "1")


@pytest.mark.parametrize("exc, error", [
    (ConnectTimeoutError(None, "connect timed out"), ProviderTimeout),
    (ReadTimeoutError(None, "/v1", "Read timed out."), ProviderTimeout),
    (NewConnectionError(None, "Connection refused"), ProviderError),  # a ConnectTimeoutError
    (ProtocolError("Connection broken: IncompleteRead"), ProviderError),
    (SSLError("certificate verify failed"), ProviderError),
    (ConnectionResetError(104, "Connection reset by peer"), ProviderError),
])
def test_transport_error(exc, error):
    mapped = transport_error("openai", exc, context="stream broke")
    assert type(mapped) is error
    assert mapped.provider == "openai"
    if error is ProviderError:
        assert mapped.upstream_message.startswith("stream broke: ")
