"""Abuse control before a request reaches the routes: requests per minute
per client (429), upload tokens (401), connections per address (503).

- ``RequestRates``: ``--requests-per-minute N`` is a bucket of N requests per
  client that refills at N a minute (GCRA in one number per client): N at
  once after a quiet minute, then one every 60/N seconds. A refused request
  costs nothing, so a client that keeps asking still gets the rate. Every
  request counts except the paths given as exempt (the health check, which
  a load balancer or orchestrator polls from one address and must never see
  refused). Per-client state lives in a ``ClientTable`` (bounded memory; a
  client idle for a minute is forgotten, which changes nothing).
- ``UploadAuth``: with ``--upload-token``, every POST and PUT (all the
  service's uploads, whatever their URL, and whatever upload route is added
  later) needs ``Authorization: Bearer <token>``. Tokens are compared as
  SHA-256 digests with ``hmac.compare_digest``, against every configured
  token, so neither the time taken nor its length tells how close a guess was.
  Downloads and checks stay link-based.
- ``ConnectionCounts``: ``--max-connections-per-ip N`` counts open
  connections by socket peer (``Client.key``), at accept time, before any
  header is read. Trusted proxies are exempt: they carry the connections of
  many clients, and a cap on them would be a cap on everyone; the
  forwarded clients behind them are held by the request and speed limits
  instead, and their connections are the proxy's to limit.

All of these are per worker process (``--workers``): a client whose
connections land on k workers may get up to k times a limit.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Collection

from adapters.client_table import MAX_CLIENTS, ClientTable
from adapters.http.errors import error_body
from adapters.http.exchange import Exchange
from adapters.http.request_id import HEADER as REQUEST_ID_HEADER
from adapters.http.response import JSON_HEADERS, build_head
from ports.throttle import Clock

RETRY_AFTER_SECONDS = 1
UPLOAD_METHODS = frozenset({"POST", "PUT"})
REALM = 'Bearer realm="uploads"'


def busy_refusal(message: str, request_id: str = "") -> bytes:
    """The whole 503 answer to a connection refused at accept time (it
    closes; the client may retry after ``RETRY_AFTER_SECONDS``), with
    ``X-Request-Id`` if given."""
    body = error_body(503, message)
    return build_head(503, [
        *JSON_HEADERS,
        ("Content-Length", str(len(body))),
        ("Retry-After", str(RETRY_AFTER_SECONDS)),
        ("Connection", "close"),
        *([(REQUEST_ID_HEADER, request_id)] if request_id else []),
    ]) + body


class _Slot:
    __slots__ = ("empty_at",)

    def __init__(self, empty_at: float) -> None:
        self.empty_at = empty_at


class RequestRates:
    def __init__(self, per_minute: int, clock: Clock, capacity: int = MAX_CLIENTS) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be positive")
        self._clock = clock
        self._cost = 60.0 / per_minute  # seconds of budget one request uses
        self._tolerance = 60.0  # a full bucket: per_minute requests
        self.table: ClientTable[_Slot] = ClientTable(self._idle, capacity)

    def _idle(self, slot: _Slot) -> bool:
        return slot.empty_at <= self._clock.now() - self._tolerance

    def admit(self, client: str) -> float:
        """0 when ``client`` may make a request now (and it is counted), else
        the seconds until it may (nothing counted)."""
        now = self._clock.now()
        slot = self.table.get(client, lambda: _Slot(now - self._tolerance))
        empty_at = max(slot.empty_at, now - self._tolerance) + self._cost
        if empty_at > now + 1e-9:
            return empty_at - now
        slot.empty_at = empty_at
        return 0.0


class UploadAuth:
    def __init__(self, tokens: Collection[str]) -> None:
        if not tokens:
            raise ValueError("no upload token")
        self._digests = [hashlib.sha256(token.encode()).digest() for token in tokens]

    def allows(self, authorization: str | None) -> bool:
        """True when ``authorization`` is ``Bearer <one of the tokens>``
        (scheme in any case)."""
        if authorization is None:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        digest = hashlib.sha256(credentials.strip().encode("utf-8", "surrogateescape")).digest()
        allowed = False
        for known in self._digests:  # every one, always: no early exit
            allowed |= hmac.compare_digest(digest, known)
        return allowed and scheme.lower() == "bearer"


class ConnectionCounts:
    def __init__(self, per_client: int) -> None:
        """At most ``per_client`` open connections per client key."""
        self._limit = per_client
        self._open: dict[str, int] = {}  # only keys with an open connection: bounded by the connections

    def admit(self, key: str) -> bool:
        """Count a new connection of ``key``; False (nothing counted) when
        it already has the most it may."""
        count = self._open.get(key, 0)
        if count >= self._limit:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: str) -> None:
        """A connection ``admit`` counted has closed."""
        count = self._open.get(key, 0)
        if count > 1:
            self._open[key] = count - 1
        else:
            self._open.pop(key, None)

    def __len__(self) -> int:
        return len(self._open)


class Admission:
    """The request-level checks, around the routes' handler: 429 first
    (every request counts, refused ones included), then 401 for uploads."""

    def __init__(self, rates: RequestRates | None, auth: UploadAuth | None,
                 exempt_paths: Collection[str] = ()) -> None:
        self._rates = rates
        self._auth = auth
        self._exempt_paths = frozenset(exempt_paths)

    @property
    def active(self) -> bool:
        return self._rates is not None or self._auth is not None

    @property
    def uploads_need_token(self) -> bool:
        return self._auth is not None

    def refuse(self, exchange: Exchange) -> bool:
        """Answer ``exchange`` with a refusal if a check fails; True if it did."""
        request = exchange.request
        if self._rates is not None and request.path not in self._exempt_paths:
            wait = self._rates.admit(exchange.client.key)
            if wait:
                seconds = max(1, math.ceil(wait))
                exchange.respond_error(429, f"too many requests; retry in {seconds} s",
                                       [("Retry-After", str(seconds))])
                return True
        if self._auth is not None and request.method in UPLOAD_METHODS:
            authorization = request.headers.get("authorization")
            if not self._auth.allows(authorization):
                challenge = REALM if authorization is None else REALM + ', error="invalid_token"'
                exchange.respond_error(401, "uploads need Authorization: Bearer <token>",
                                       [("WWW-Authenticate", challenge)])
                return True
        return False
