"""Who the client is: the socket peer, or what trusted proxies forwarded
(sans-I/O, adapters/http/clients.py)."""

from __future__ import annotations

import time

import pytest

from adapters.http.clients import MAX_HOPS, Client, ClientResolver, client_key, parse_address

PROXY = "10.0.0.1"


def resolve(headers: dict[str, str], peer: str = PROXY, trusted: tuple[str, ...] = ("10.0.0.0/8",),
            mode: str = "x-forwarded") -> Client:
    resolver = ClientResolver(trusted, mode)
    return resolver.resolve(resolver.peer(peer), headers)


@pytest.mark.parametrize("text, address", [
    ("192.0.2.1", "192.0.2.1"), (" 192.0.2.1 ", "192.0.2.1"), ("192.0.2.1:443", "192.0.2.1"),
    ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]", "2001:db8::1"), ("[2001:db8::1]:4711", "2001:db8::1"),
    ("::ffff:192.0.2.9", "192.0.2.9"), ("2001:DB8:0:0::1", "2001:db8::1"),
])
def test_addresses_as_proxies_write_them(text: str, address: str) -> None:
    assert str(parse_address(text)) == address


@pytest.mark.parametrize("text", [
    "", "unknown", "_hidden", "192.0.2.1:", "192.0.2.1:x", "192.0.2.1:1234567", "[2001:db8::1", "[2001:db8::1]x",
    "[2001:db8::1]:", "300.1.1.1", "1.2.3.4.5", "1" * 100, "192.0.2.1:٤٤٣",
])
def test_anything_else_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None


def test_an_ipv6_client_is_counted_by_its_slash_64() -> None:
    a, b = parse_address("2001:db8:1:2:aaaa::1"), parse_address("2001:db8:1:2:bbbb::7")
    assert a is not None and b is not None
    assert client_key(a) == client_key(b) == "2001:db8:1:2::/64"
    ipv4 = parse_address("192.0.2.1")
    assert ipv4 is not None and client_key(ipv4) == "192.0.2.1"


def test_headers_from_an_untrusted_peer_change_nothing() -> None:
    spoofed = {"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https", "x-forwarded-host": "evil.example",
               "forwarded": "for=1.2.3.4;proto=https;host=evil.example"}
    for mode in ("x-forwarded", "forwarded"):
        client = resolve(spoofed, peer="192.0.2.50", mode=mode)
        assert client == Client("192.0.2.50", "192.0.2.50", parse_address("192.0.2.50"))
        # Without any trusted proxy, not even a proxy's own address is believed.
        assert resolve(spoofed, trusted=(), mode=mode).address == PROXY


def test_the_right_most_untrusted_address_is_the_client() -> None:
    # The client wrote "1.2.3.4" itself; 198.51.100.7 is what the proxy saw.
    client = resolve({"x-forwarded-for": "1.2.3.4, 198.51.100.7"})
    assert (client.address, client.key, client.forwarded) == ("198.51.100.7", "198.51.100.7", True)
    # Trusted hops on the right are skipped, whatever the client put on the left.
    client = resolve({"x-forwarded-for": "6.6.6.6, 5.5.5.5, 198.51.100.7, 10.1.1.1, 10.2.2.2"})
    assert client.address == "198.51.100.7"
    # Several fields are one list, in order.
    assert resolve({"x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.1.1.1"}).address == "198.51.100.7"


def test_a_chain_of_trusted_proxies_gives_its_left_most_and_garbage_stops_the_walk() -> None:
    assert resolve({"x-forwarded-for": "10.9.9.9, 10.1.1.1"}).address == "10.9.9.9"
    # "unknown" where the client's address should be: the nearest trusted address stands.
    assert resolve({"x-forwarded-for": "1.2.3.4, unknown, 10.1.1.1"}).address == "10.1.1.1"
    assert resolve({"x-forwarded-for": "garbage"}).address == PROXY
    assert resolve({"x-forwarded-for": ""}).address == PROXY
    assert not resolve({"x-forwarded-for": ""}).forwarded


def test_only_the_right_most_hops_are_read() -> None:
    trusted_hops = ", ".join(f"10.0.{i // 250}.{i % 250 + 1}" for i in range(MAX_HOPS + 5))
    # The client's address lies beyond MAX_HOPS trusted hops: the walk stops at the last hop it reads.
    client = resolve({"x-forwarded-for": "198.51.100.7, " + trusted_hops})
    assert client.address == trusted_hops.split(", ")[5]


def test_long_chains_cost_linear_time() -> None:
    def cost(n: int) -> float:
        headers = {"x-forwarded-for": "1.2.3.4, " * n + "198.51.100.7",
                   "forwarded": "for=1.2.3.4;proto=http, " * n + "for=198.51.100.7"}
        start = time.perf_counter()
        for mode in ("x-forwarded", "forwarded"):
            assert resolve(headers, mode=mode).address == "198.51.100.7"
        return time.perf_counter() - start

    cost(1000)
    assert cost(40_000) / cost(10_000) < 8  # quadratic would be ~16


def test_proto_and_host_from_the_nearest_proxy_build_the_links() -> None:
    client = resolve({"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "http, HTTPS",
                      "x-forwarded-host": "evil.example, files.example.com:8443"})
    assert (client.scheme, client.host) == ("https", "files.example.com:8443")
    # Without a forwarded address, proto and host still count (the peer is the client).
    client = resolve({"x-forwarded-proto": "https", "x-forwarded-host": "[2001:db8::1]:443"})
    assert (client.address, client.scheme, client.host) == (PROXY, "https", "[2001:db8::1]:443")
    # Values that could not be a scheme or an authority are ignored.
    client = resolve({"x-forwarded-proto": "gopher", "x-forwarded-host": "a b/c"})
    assert (client.scheme, client.host) == (None, None)
    assert resolve({"x-forwarded-host": "h" * 300}).host is None


def test_rfc_7239_forwarded() -> None:
    header = ('for=1.2.3.4;proto=http, For="[2001:db8:cafe::17]:4711";PROTO=https;host="files.example.com", '
              'for=10.1.1.1;proto=http')
    client = resolve({"forwarded": header, "x-forwarded-for": "9.9.9.9"}, mode="forwarded")
    assert (client.address, client.key, client.scheme, client.host) == (
        "2001:db8:cafe::17", "2001:db8:cafe::/64", "https", "files.example.com")
    # In this mode X-Forwarded-* are never read.
    client = resolve({"x-forwarded-for": "9.9.9.9", "x-forwarded-proto": "https"}, mode="forwarded")
    assert (client.address, client.scheme) == (PROXY, None)


def test_forwarded_quoting_obfuscation_and_missing_fields() -> None:
    # A quoted value may hold separators; a backslash escapes.
    client = resolve({"forwarded": 'for=198.51.100.7;host="a.example,b;c", for=10.1.1.1'}, mode="forwarded")
    assert (client.address, client.host) == ("198.51.100.7", "a.example,b;c")  # an RFC 3986 reg-name, like Host
    client = resolve({"forwarded": 'for=198.51.100.7;host="a example"'}, mode="forwarded")
    assert (client.address, client.host) == ("198.51.100.7", None)
    client = resolve({"forwarded": r'for="198.51.100.\7";proto="https"'}, mode="forwarded")
    assert (client.address, client.scheme) == ("198.51.100.7", "https")
    # An obfuscated identifier stops the walk; its element's proto still counts (a trusted proxy wrote it).
    client = resolve({"forwarded": "for=1.2.3.4, for=_hidden;proto=https, for=10.1.1.1"}, mode="forwarded")
    assert (client.address, client.scheme) == ("10.1.1.1", "https")
    # Elements without "for", empty ones, bare words and unterminated quotes.
    for header in ("proto=https", ",,;;", "for", 'for="198.51.100.7', "=x;for=;"):
        assert resolve({"forwarded": header}, mode="forwarded").address == PROXY, header


def test_proxies_in_ipv6_and_ipv4_mapped_peers() -> None:
    resolver = ClientResolver(["2001:db8:ffff::/48", "127.0.0.1/32"])
    peer = resolver.peer("2001:db8:ffff::2")
    assert resolver.resolve(peer, {"x-forwarded-for": "192.0.2.3"}).address == "192.0.2.3"
    mapped = resolver.peer("::ffff:127.0.0.1")  # a dual-stack socket's IPv4 peer
    assert mapped.address == "127.0.0.1"
    assert resolver.resolve(mapped, {"x-forwarded-for": "192.0.2.3"}).address == "192.0.2.3"
    assert resolver.peer("not an address") == Client("not an address", "not an address")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        ClientResolver(["10.1.2.3/8"])  # host bits set
    with pytest.raises(ValueError):
        ClientResolver([], "x-real-ip")
