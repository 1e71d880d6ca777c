"""The SSRF guard's address rules, with DNS played by a resolver the test passes in."""
from __future__ import annotations

import ipaddress

import pytest

from app.webhooks.safety import (
    MAX_URL_LENGTH,
    UnresolvableHost,
    UnsafeWebhookUrl,
    checked_addresses,
    forbidden_reason,
    parse_url,
    port_of,
    system_resolver,
)

PUBLIC = "93.184.215.14"
HINT = "; an operator can allow private addresses with WEBHOOK_ALLOW_PRIVATE=true."


def resolving_to(*addresses: str, asked: list | None = None):
    def resolver(host: str, port: int) -> list[str]:
        if asked is not None:
            asked.append((host, port))
        return list(addresses)
    return resolver


def refusal(url: str, allow_private: bool = False, resolver=resolving_to(PUBLIC)) -> str:
    with pytest.raises(UnsafeWebhookUrl) as raised:
        checked_addresses(url, allow_private=allow_private, resolver=resolver)
    return raised.value.message


@pytest.mark.parametrize("address, reason", [
    ("::ffff:10.0.0.1", "a private address"),  # IPv4-mapped
    ("2002:a00:1::", "a private address"),  # 6to4 carrying 10.0.0.1
    # Teredo: the client 127.0.0.1 (its bits inverted) inside an address that is itself only private
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a loopback address"),
    ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),  # NAT64 of 169.254.169.254
    ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
    ("169.254.1.1", "a link-local address"),
    ("400::1", "a reserved address"),
    ("100.64.0.1", "a non-public address"),  # carrier-grade NAT: neither private nor reserved
    ("ff02::1", "a multicast address"),
    ("::", "an unspecified address"),
])
def test_addresses_inside_addresses_are_judged_too(address, reason):
    assert forbidden_reason(ipaddress.ip_address(address), allow_private=False) == reason


@pytest.mark.parametrize("address", [PUBLIC, "2606:4700::1111"])
def test_public_addresses_pass(address):
    assert forbidden_reason(ipaddress.ip_address(address), allow_private=False) is None


def test_allowing_private_addresses_never_allows_metadata_multicast_or_unspecified():
    def judged(address: str) -> str | None:
        return forbidden_reason(ipaddress.ip_address(address), allow_private=True)

    assert judged("10.0.0.1") is None and judged("127.0.0.1") is None and judged("::ffff:10.0.0.1") is None
    assert judged("64:ff9b::a9fe:a9fe") == "a cloud metadata address"
    assert judged("224.0.0.1") == "a multicast address"
    assert judged("0.0.0.0") == "an unspecified address"


def test_every_address_a_host_resolves_to_must_pass():
    message = refusal("https://hooks.example.com/x", resolver=resolving_to(PUBLIC, "10.0.0.9"))
    assert message == ("hooks.example.com (it resolves to 10.0.0.9) is a private address; "
                       "Aqta does not deliver there" + HINT)


def test_a_refused_literal_names_itself_and_metadata_gets_no_hint():
    assert refusal("http://10.0.0.9/") == "10.0.0.9 is a private address; Aqta does not deliver there" + HINT
    assert refusal("http://169.254.169.254/") == ("169.254.169.254 is a cloud metadata address; "
                                                  "Aqta does not deliver there.")
    assert refusal("http://127.0.0.1/", allow_private=False).endswith(HINT)


def test_the_addresses_checked_are_the_ones_returned_and_dns_is_asked_for_the_right_port():
    asked = []
    resolver = resolving_to(PUBLIC, "fe80::1%eth0", asked=asked)
    assert checked_addresses("https://Hooks.Example.com./x", allow_private=True, resolver=resolver) == [
        ipaddress.ip_address(PUBLIC), ipaddress.ip_address("fe80::1")]
    checked_addresses("http://hooks.example.com/x", allow_private=True, resolver=resolver)
    checked_addresses("http://hooks.example.com:8443/x", allow_private=True, resolver=resolver)
    assert asked == [("hooks.example.com", 443), ("hooks.example.com", 80), ("hooks.example.com", 8443)]
    assert port_of(parse_url("https://h.example")) == 443 and port_of(parse_url("http://h.example")) == 80


def test_a_literal_address_is_not_looked_up():
    asked = []
    resolver = resolving_to(asked=asked)
    assert checked_addresses(f"http://{PUBLIC}/", allow_private=False, resolver=resolver) == [
        ipaddress.ip_address(PUBLIC)]
    assert asked == []


@pytest.mark.parametrize("host", ["metadata.google.internal.", "METADATA", "instance-data"])
def test_metadata_names_are_refused_before_any_lookup(host):
    asked = []
    message = refusal(f"http://{host}/", allow_private=True, resolver=resolving_to(PUBLIC, asked=asked))
    assert message == f"{host.rstrip('.').lower()} is a cloud metadata service; Aqta never calls it."
    assert asked == []


@pytest.mark.parametrize("error", [OSError("Name or service not known"), UnicodeError(), ValueError("bad")])
def test_a_host_that_does_not_resolve_is_a_typed_error(error):
    def failing(host, port):
        raise error

    with pytest.raises(UnresolvableHost) as raised:
        checked_addresses("https://nowhere.example/", allow_private=False, resolver=failing)
    assert raised.value.message == (f"The host nowhere.example does not resolve "
                                    f"({str(error) or type(error).__name__}); check the URL.")
    with pytest.raises(UnresolvableHost, match=r"\(no addresses\)"):
        checked_addresses("https://nowhere.example/", allow_private=False, resolver=resolving_to())


def test_urls_aqta_never_calls():
    longest = "https://h.example/" + "a" * (MAX_URL_LENGTH - len("https://h.example/"))
    assert parse_url(longest).hostname == "h.example"
    with pytest.raises(UnsafeWebhookUrl, match=f"longer than {MAX_URL_LENGTH} characters"):
        parse_url(longest + "a")
    with pytest.raises(UnsafeWebhookUrl, match="port is not valid"):
        parse_url("https://h.example:99999/")
    with pytest.raises(UnsafeWebhookUrl, match="Credentials"):
        parse_url("https://user@h.example/")
    with pytest.raises(UnsafeWebhookUrl, match="Credentials"):
        parse_url("https://:secret@h.example/")
    assert parse_url("  https://h.example/x  ").path == "/x"


def test_the_system_resolver_answers_each_address_once():
    addresses = system_resolver("localhost", 80)
    assert "127.0.0.1" in addresses or "::1" in addresses
    assert len(addresses) == len(set(addresses))
    with pytest.raises(OSError):
        system_resolver("no-such-host.invalid", 80)


@pytest.mark.parametrize("url, reason", [
    ("ftp://h.example/", "The URL must start with https:// (or http://)."),
    ("https:///path", "The URL has no host."),
    ("https://user:pass@h.example/", "Credentials in the URL (user:pass@) are not supported; verify the "
                                     "signature instead, or put a token in the path."),
    ("https://h.example:99999/", "The URL's port is not valid."),
])
def test_a_refused_url_says_why_and_names_the_url_field(url, reason):
    with pytest.raises(UnsafeWebhookUrl) as refused:
        parse_url(url)
    assert refused.value.message == reason and refused.value.field == "url"


def test_an_unresolvable_host_names_the_url_field_and_the_host():
    with pytest.raises(UnresolvableHost) as refused:
        checked_addresses("https://nowhere.example/", allow_private=False, resolver=resolving_to())
    assert refused.value.field == "url"
    assert refused.value.message == "The host nowhere.example does not resolve (no addresses); check the URL."


def test_allowing_private_addresses_still_judges_every_address_carried_inside():
    # A Teredo address carries two IPv4 addresses: a private server (allowed here) and a
    # client that is the metadata service (never allowed).
    server, client = int(ipaddress.IPv4Address("10.0.0.1")), int(ipaddress.IPv4Address("169.254.169.254"))
    teredo = ipaddress.IPv6Address((0x20010000 << 96) | (server << 64) | (~client & 0xFFFFFFFF))
    assert teredo.teredo == (ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("169.254.169.254"))
    assert forbidden_reason(teredo, allow_private=True) == "a cloud metadata address"
