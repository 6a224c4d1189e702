"""Who the client of a request is, sans-I/O.

The client is the socket's peer, unless that peer is a trusted proxy
(``--trusted-proxy``): then it is the address the proxies forwarded, and
the scheme and host the client used (for the links) come from them too.
Headers from any other peer change nothing: a client cannot name itself.

Which headers (``--proxy-headers``): ``x-forwarded`` reads
``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host``;
``forwarded`` reads RFC 7239 ``Forwarded`` (``for``, ``proto``, ``host``).
Never both: most proxies append to one of them and pass the other through
untouched, so reading the other would let a client write its own address.

The forwarded chain is read from the right. Each trusted proxy appends the
address it received the request from, so walking leftwards past trusted
proxies, the first address that is not one is the one the outermost trusted
proxy saw: the client. What lies left of it was written by the client and is
never read (a spoofed left-most entry changes nothing). An entry that is not
an address (``unknown``, an obfuscated identifier, garbage) stops the walk at
the trusted address to its right; a chain of trusted proxies only gives its
left-most one. Only the right-most ``MAX_HOPS`` entries are looked at, and the
parsing is linear in the header's length.

Per-client limits count by ``Client.key``: the address, or for IPv6 its /64
network, since one subscriber is usually given a whole /64 and could
otherwise draw a fresh budget for each of its addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections import deque
from typing import Iterable, Mapping, NamedTuple

from adapters.http.target import InvalidTarget, checked_authority

MAX_HOPS = 32  # forwarded entries looked at, from the right
MAX_ENTRY = 64  # characters of one entry (an IPv6 literal in brackets with a port is at most 55)
HEADER_MODES = ("x-forwarded", "forwarded")
SCHEMES = ("http", "https")
IPV4_MAPPED = bytes(10) + b"\xff\xff"
# RFC 7239 4: elements separated by ",", pairs by ";", values tokens or
# quoted strings (which may contain either). Plain runs, quoted strings
# and separators, each alternative unambiguous: linear.
FORWARDED_PIECE = re.compile(r'[^",;]+|"(?:[^"\\]|\\.)*"?|[,;]')
QUOTED_PAIR = re.compile(r"\\(.)")


# Named tuples, not frozen dataclasses or ``ipaddress`` objects: these are
# made for every request behind a proxy, and those cost microseconds each.


class IPAddress(NamedTuple):
    """An IP address: its normal text form, and its value as an integer of
    ``bits`` (32 or 128) bits."""

    text: str
    bits: int
    value: int

    def __str__(self) -> str:
        return self.text


class Network(NamedTuple):
    bits: int
    prefix: int
    mask: int


class Client(NamedTuple):
    """The client of one request."""

    address: str  # its IP address ("203.0.113.7", "2001:db8::1"), or the peer as the socket gave it
    key: str  # what per-client limits count by: the address, or an IPv6 address's /64
    ip: IPAddress | None = None
    scheme: str | None = None  # "http" or "https", as a trusted proxy forwarded it
    host: str | None = None  # host[:port], as a trusted proxy forwarded it (RFC 3986, checked)
    forwarded: bool = False  # named by a trusted proxy rather than the socket
    proxy: bool = False  # the socket peer is a trusted proxy (its forwarding headers are read)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: ``192.0.2.1``, ``192.0.2.1:443``,
    ``2001:db8::1``, ``[2001:db8::1]``, ``[2001:db8::1]:443``, surrounding
    whitespace allowed; an IPv4-mapped IPv6 address is its IPv4 address.
    ``None`` for anything else."""
    text = text.strip()
    if not text or len(text) > MAX_ENTRY:
        return None
    if text[0] == "[":
        close = text.find("]")
        rest = text[close + 1:]
        if close < 0 or (rest and not _is_port(rest)):
            return None
        text = text[1:close]
    elif text.count(":") == 1:  # IPv4 with a port
        text, _, port = text.partition(":")
        if not _is_port(":" + port):
            return None
    if ":" not in text:
        try:
            packed = socket.inet_pton(socket.AF_INET, text)
        except OSError:
            return None
        # inet_pton takes only the normal form (no leading zeros, four parts): ``text`` is it.
        return IPAddress(text, 32, int.from_bytes(packed, "big"))
    try:
        packed = socket.inet_pton(socket.AF_INET6, text.partition("%")[0])  # without a zone (fe80::1%eth0)
    except OSError:
        return None
    if packed[:12] == IPV4_MAPPED:
        return IPAddress(socket.inet_ntop(socket.AF_INET, packed[12:]), 32, int.from_bytes(packed[12:], "big"))
    return IPAddress(socket.inet_ntop(socket.AF_INET6, packed), 128, int.from_bytes(packed, "big"))


def _is_port(text: str) -> bool:
    return text[:1] == ":" and 1 < len(text) <= 6 and text[1:].isascii() and text[1:].isdigit()


def client_key(address: IPAddress) -> str:
    if address.bits == 128:
        return socket.inet_ntop(socket.AF_INET6, (address.value >> 64 << 64).to_bytes(16, "big")) + "/64"
    return address.text


def parse_network(text: str) -> Network:
    """A CIDR (``10.0.0.0/8``, ``2001:db8::/32``) or one address (a /32 or
    /128). ``ValueError`` for anything else, host bits set included (``10.1.2.3/8``
    is more likely a typo than a wish)."""
    network = ipaddress.ip_network(text.strip(), strict=True)
    return Network(network.max_prefixlen, int(network.network_address), int(network.netmask))


class _Hop(NamedTuple):
    """One element of ``Forwarded``, as written."""

    address: str
    proto: str | None
    host: str | None


class ClientResolver:
    def __init__(self, trusted: Iterable[str] = (), headers: str = "x-forwarded") -> None:
        """``trusted``: CIDRs or addresses of the proxies whose forwarding
        headers are believed; ``headers``: one of ``HEADER_MODES``."""
        if headers not in HEADER_MODES:
            raise ValueError(f"headers must be one of {HEADER_MODES}")
        self._trusted = tuple(parse_network(text) for text in trusted)
        self._forwarded = headers == "forwarded"

    def is_trusted(self, address: IPAddress | None) -> bool:
        if address is None:
            return False
        for bits, prefix, mask in self._trusted:
            if address.bits == bits and address.value & mask == prefix:
                return True
        return False

    def peer(self, host: str) -> Client:
        """The client of a connection whose socket peer is ``host`` (an
        address as ``getpeername`` gives it)."""
        ip = parse_address(host)
        if ip is None:
            return Client(host, host)
        return Client(ip.text, client_key(ip), ip, proxy=self.is_trusted(ip))

    def resolve(self, peer: Client, headers: Mapping[str, str]) -> Client:
        """The client of a request with ``headers`` (lower-case names) that
        came from ``peer`` (made by ``peer``): ``peer`` itself unless it is a
        trusted proxy."""
        if not peer.proxy:
            return peer
        if self._forwarded:
            hops = _forwarded_hops(headers.get("forwarded", ""))
            entries = [hop.address for hop in hops]
        else:
            value = headers.get("x-forwarded-for")
            entries = value.rsplit(",", MAX_HOPS)[-MAX_HOPS:] if value else []
            if not entries and "x-forwarded-proto" not in headers and "x-forwarded-host" not in headers:
                return peer
        address, stop = peer.ip, len(entries)
        assert address is not None
        for index in range(len(entries) - 1, -1, -1):  # only what the walk reaches is parsed
            # entries[index] was written by a trusted proxy (the one to its
            # right): its proto and host may be read even if its address is not one.
            stop = index
            hop = parse_address(entries[index])
            if hop is None:
                break
            address = hop
            if not self.is_trusted(hop):
                break
        if self._forwarded:
            nearest = hops[stop:]
            proto = next((hop.proto for hop in nearest if hop.proto), None)
            host = next((hop.host for hop in nearest if hop.host), None)
        else:
            proto = _last(headers.get("x-forwarded-proto"))
            host = _last(headers.get("x-forwarded-host"))
        return Client(address.text, client_key(address), address, _scheme(proto), _host(host),
                      forwarded=address != peer.ip)


def _forwarded_hops(value: str) -> list[_Hop]:
    """The right-most ``MAX_HOPS`` elements of ``Forwarded``, left to right."""
    hops: deque[_Hop] = deque(maxlen=MAX_HOPS)
    pairs: dict[str, str] = {}
    pair: list[str] = []
    for match in FORWARDED_PIECE.finditer(value + ","):
        piece = match.group()
        if piece not in (",", ";"):
            pair.append(piece)
            continue
        name, equals, raw = "".join(pair).partition("=")
        pair.clear()
        if equals:
            pairs.setdefault(name.strip().lower(), _unquote(raw.strip()))
        if piece == ",":
            if pairs:
                hops.append(_Hop(pairs.get("for", ""), pairs.get("proto"), pairs.get("host")))
            pairs = {}
    return list(hops)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


def _last(value: str | None) -> str | None:
    """The right-most value of a comma-separated field: the nearest proxy's."""
    return None if value is None else value[value.rfind(",") + 1:].strip() or None


def _scheme(value: str | None) -> str | None:
    return value.lower() if value is not None and value.lower() in SCHEMES else None


def _host(value: str | None) -> str | None:
    if value is None or len(value) > 255:
        return None
    try:
        return checked_authority(value, "forwarded host")
    except InvalidTarget:
        return None
