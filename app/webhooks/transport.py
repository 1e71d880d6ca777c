"""The webhook sender's HTTP: one POST to a checked, pinned address, no redirects, a bounded read.

The host is resolved once per attempt, every address checked
(``webhook_safety``), and the connection made to the first of those addresses,
with the URL's host name in the ``Host`` header and, for https, in SNI and the
certificate check. No proxy from the environment is used, nothing is retried
here (the delivery schedule does that), and at most ``MAX_RESPONSE_BYTES`` of
the answer are read. urllib3's errors become an ``Outcome`` whose ``error`` an
endpoint's owner can read.
"""
from __future__ import annotations

import time

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from app.webhooks.safety import (
    Resolver,
    UnresolvableHost,
    UnsafeWebhookUrl,
    checked_addresses,
    parse_url,
    port_of,
    system_resolver,
)
from storage.webhook_deliveries import Outcome

MAX_RESPONSE_BYTES = 64 * 1024  # bytes of a receiver's answer read, at most
READ_CHUNK_BYTES = 8 * 1024
USER_AGENT = "Aqta-Webhooks/1.0"


class WebhookTransport:
    """Sends deliveries; ``resolver`` and ``ca_certs`` are swappable so tests can play DNS and a CA."""

    def __init__(self, *, allow_private: bool, timeout_seconds: float,
                 resolver: Resolver = system_resolver, ca_certs: str | None = None):
        self.allow_private = allow_private
        self.timeout_seconds = timeout_seconds
        self.resolver = resolver
        self.ca_certs = ca_certs or certifi.where()  # the CAs a receiver's certificate must chain to

    def post(self, url: str, body: str, headers: dict[str, str]) -> Outcome:
        """POST ``body`` (JSON) to ``url``; a 2xx answer within the timeout is a success."""
        started = time.monotonic()

        def outcome(status: int | None, error: str | None) -> Outcome:
            return Outcome(status, int((time.monotonic() - started) * 1000), error)

        try:
            addresses = checked_addresses(url, allow_private=self.allow_private, resolver=self.resolver)
        except (UnsafeWebhookUrl, UnresolvableHost) as exc:
            return outcome(None, f"refused: {exc.message}" if isinstance(exc, UnsafeWebhookUrl)
                           else exc.message)
        parts = parse_url(url)
        pool = self._pool(parts.scheme, str(addresses[0]), port_of(parts), parts.hostname)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        all_headers = {"Host": parts.netloc, "Content-Type": "application/json",
                       "User-Agent": USER_AGENT, **headers}
        try:
            response = pool.urlopen("POST", path, body=body.encode(), headers=all_headers,
                                    redirect=False, preload_content=False,
                                    timeout=urllib3.Timeout(total=self.timeout_seconds))
            status = response.status
            self._read_some(response, started)
            return outcome(status, _status_error(status))
        except NewConnectionError as exc:  # before ConnectTimeoutError: urllib3 subclasses it
            return outcome(None, f"could not connect: {_reason(exc)}")
        except ConnectTimeoutError:
            return outcome(None, f"timed out connecting after {self.timeout_seconds:g} s")
        except ReadTimeoutError:
            return outcome(None, f"no answer within {self.timeout_seconds:g} s")
        except SSLError as exc:
            return outcome(None, f"TLS error: {_reason(exc)}")
        except (ProtocolError, HTTPError, OSError) as exc:
            return outcome(None, f"connection failed: {_reason(exc)}")
        finally:
            pool.close()

    def _pool(self, scheme: str, address: str, port: int, hostname: str):
        """A pool of one connection (urllib3's default size) that never retries."""
        if scheme == "https":
            return urllib3.HTTPSConnectionPool(
                address, port, retries=False, cert_reqs="CERT_REQUIRED",
                ca_certs=self.ca_certs, server_hostname=hostname, assert_hostname=hostname)
        return urllib3.HTTPConnectionPool(address, port, retries=False)

    def _read_some(self, response, started: float) -> None:
        """Read at most MAX_RESPONSE_BYTES until the deadline; the status already decided.

        ``read1`` returns what has arrived: ``read`` would wait for a whole chunk, which a
        receiver sending a byte at a time (never idle long enough for the read timeout)
        could make last for ever. The bytes are counted as sent (not decompressed).
        """
        deadline = started + self.timeout_seconds
        read = 0
        try:
            while read < MAX_RESPONSE_BYTES and time.monotonic() < deadline:
                chunk = response.read1(min(READ_CHUNK_BYTES, MAX_RESPONSE_BYTES - read), decode_content=False)
                if not chunk:
                    break
                read += len(chunk)
        except (HTTPError, OSError):
            pass  # a broken body after a 2xx status is still a delivery
        finally:
            response.close()


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed"
    return f"HTTP {status}"


def _reason(exc: BaseException) -> str:
    """The innermost cause's message, without urllib3's object reprs."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # Python allows only exceptions in either
    text = str(exc).split(": ", 1)[-1] if "object at 0x" in str(exc) else str(exc)
    return text[:300] or type(exc).__name__
