"""Which webhook URLs Aqta will call: never its own network, never a cloud metadata service.

A URL is checked when an endpoint is saved and again at every send, on the
addresses its host resolves to then; the sender connects to the address it
checked (``webhook_transport``), so a DNS answer that changes between the check
and the connection (rebinding) cannot point a delivery inward. Every address a
host resolves to must pass. ``WEBHOOK_ALLOW_PRIVATE`` lets an operator deliver
to loopback and private networks (an internal receiver, tests); metadata
services stay refused even then.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

from app.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]  # (host, port) -> IP address strings
MAX_URL_LENGTH = 2048
# Instance metadata and platform services of the big clouds (AWS IMDS and ECS/EKS,
# GCP, Azure IMDS and WireServer, Alibaba, Oracle): credentials live there.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.170.23", "169.254.169.253", "fd00:ec2::254",
    "fd00:ec2::23", "fd00:ec2::253", "168.63.129.16", "100.100.100.200", "192.0.0.192"))
METADATA_HOSTNAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog",
                                "instance-data", "instance-data.ec2.internal", "metadata.azure.com"})


class UnsafeWebhookUrl(InvalidRequest):
    """The URL is malformed, or its host is (or resolves to) an address Aqta will not call."""

    code = "unsafe_webhook_url"

    def __init__(self, message: str):
        super().__init__(message, field="url")


class UnresolvableHost(InvalidRequest):
    code = "unresolvable_webhook_host"

    def __init__(self, host: str, error: str):
        super().__init__(f"The host {host} does not resolve ({error}); check the URL.", field="url")


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def parse_url(url: str) -> SplitResult:
    """Split an endpoint URL, refusing what Aqta never sends to (scheme, credentials, no host)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise UnsafeWebhookUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("Credentials in the URL (user:pass@) are not supported; verify "
                               "the signature instead, or put a token in the path.")
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise UnsafeWebhookUrl("The URL's port is not valid.") from None
    return parts


def port_of(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _embedded_ipv4(address: IPAddress) -> list[IPAddress]:
    """IPv4 addresses carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in ipaddress.ip_network("64:ff9b::/96"):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def forbidden_reason(address: IPAddress, allow_private: bool) -> str | None:
    """Why Aqta will not connect to ``address``, or None when it may."""
    for candidate in (*_embedded_ipv4(address), address):
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_unspecified:
            return "an unspecified address"
        if allow_private:
            continue
        for reason, flag in (("a loopback", candidate.is_loopback),
                             ("a link-local", candidate.is_link_local),
                             ("a private", candidate.is_private),
                             ("a reserved", candidate.is_reserved),
                             ("a non-public", not candidate.is_global)):
            if flag:
                return f"{reason} address"
    return None


def _literal(host: str) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return []


def checked_addresses(url: str, *, allow_private: bool,
                      resolver: Resolver = system_resolver) -> list[IPAddress]:
    """The addresses to connect to for ``url``, all of them allowed; else a typed error.

    UnsafeWebhookUrl for a refused URL or address, UnresolvableHost when DNS has no answer.
    """
    parts = parse_url(url)
    host = parts.hostname.rstrip(".").lower()
    if host in METADATA_HOSTNAMES:
        raise UnsafeWebhookUrl(f"{host} is a cloud metadata service; Aqta never calls it.")
    addresses = _literal(host)
    if not addresses:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port_of(parts))]
        except (OSError, UnicodeError, ValueError) as exc:
            raise UnresolvableHost(host, str(exc) or type(exc).__name__) from None
        if not addresses:
            raise UnresolvableHost(host, "no addresses")
    for address in addresses:
        reason = forbidden_reason(address, allow_private)
        if reason is not None:
            via = "" if str(address) == host else f" (it resolves to {address})"
            hint = "" if allow_private or reason == "a cloud metadata address" else \
                "; an operator can allow private addresses with WEBHOOK_ALLOW_PRIVATE=true"
            raise UnsafeWebhookUrl(f"{host}{via} is {reason}; Aqta does not deliver there{hint}.")
    return addresses
