"""Blocking, signed HTTP exchanges with one S3 bucket, over pooled connections.

Everything here blocks (``http.client``): ``S3Client`` runs it in its thread
pool, never on the event loop. Each exchange signs its request (SigV4, with
the payload's SHA-256, so the server checks the body too), sends it on an
idle keep-alive connection or a new one, and answers either a ``Reply`` whose
body is read and capped, or a ``StreamReply`` that holds the connection until
its body is read to the end (then the connection goes back to the pool) or
closed (then the connection is dropped: its unread rest is not worth reading).

Timeouts: ``timeout`` seconds bound the connect and each socket operation, a
lack of progress, not a whole transfer. A request on a reused connection that
the server closed meanwhile (keep-alive race) is sent once more on a new one.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from typing import Mapping, Sequence
from urllib.parse import urlsplit

from adapters.s3.sigv4 import Credentials, sign, uri_encode

_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
ERROR_BODY_LIMIT = 64 * 1024  # an error document is small; more is not read


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and who we are. ``endpoint`` is ``http(s)://host[:port]``,
    the address connections go to. ``addressing`` ``path`` names the bucket in
    the path (``/bucket/key``, what SeaweedFS and MinIO answer by default);
    ``virtual`` names it in the Host header (``bucket.host``), what AWS
    prefers; the connection still goes to the endpoint's address, which for
    a virtual-host server also serves every ``bucket.host`` name."""

    endpoint: str
    bucket: str
    region: str = "us-east-1"
    access_key: str = ""
    secret_key: str = ""
    session_token: str | None = None
    addressing: str = "path"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"S3 endpoint must be http(s)://host[:port], not {self.endpoint!r}")
        if self.addressing not in ("path", "virtual"):
            raise ValueError(f"S3 addressing must be 'path' or 'virtual', not {self.addressing!r}")
        if not self.bucket or "/" in self.bucket:
            raise ValueError(f"bad S3 bucket name {self.bucket!r}")

    @classmethod
    def from_env(cls, endpoint: str, bucket: str, environ: Mapping[str, str] | None = None, *,
                 addressing: str = "path", timeout: float = 30.0) -> S3Settings:
        """Credentials from ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
        ``AWS_SESSION_TOKEN`` (optional) and ``AWS_REGION`` (default
        ``us-east-1``); ``ValueError`` when the key pair is missing."""
        environ = os.environ if environ is None else environ
        access, secret = environ.get("AWS_ACCESS_KEY_ID", ""), environ.get("AWS_SECRET_ACCESS_KEY", "")
        if not access or not secret:
            raise ValueError("S3 storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
        return cls(endpoint=endpoint, bucket=bucket, region=environ.get("AWS_REGION") or "us-east-1",
                   access_key=access, secret_key=secret, session_token=environ.get("AWS_SESSION_TOKEN") or None,
                   addressing=addressing, timeout=timeout)

    def __repr__(self) -> str:  # never the secret in a log line or a traceback
        return (f"S3Settings(endpoint={self.endpoint!r}, bucket={self.bucket!r}, region={self.region!r}, "
                f"access_key={self.access_key!r}, addressing={self.addressing!r})")


@dataclass
class Reply:
    """A whole answer: status, headers, and the body (at most the cap asked for)."""

    status: int
    headers: Message
    body: bytes


class TooLarge(Exception):
    """An answer's body is longer than the caller's cap."""


class StreamReply:
    """An answer whose body is read piecemeal (blocking calls, from a pool
    thread). Owns its connection: back to the pool after the last byte."""

    def __init__(self, endpoint: Endpoint, conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers: Message = response.headers
        self._endpoint, self._conn, self._response = endpoint, conn, response
        self._done = False

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end; ``b""`` after it."""
        if self._done:
            return b""
        data = self._response.read(n)
        if len(data) < n or self._response.isclosed():
            self._finish(reusable=len(data) < n or self._response.isclosed())
        return data

    def close(self) -> None:
        """Drop the connection unless the body was read to its end. Safe twice."""
        self._finish(reusable=False)

    def _finish(self, reusable: bool) -> None:
        if self._done:
            return
        self._done = True
        if reusable and self._response.isclosed() and not self._response.will_close:
            self._endpoint.release(self._conn)
        else:
            self._conn.close()


class Endpoint:
    """Signed requests to one bucket, on at most ``pool_size`` idle
    keep-alive connections kept for reuse (more may be open at once: one
    per exchange in flight; the caller bounds those)."""

    def __init__(self, settings: S3Settings, pool_size: int = 16) -> None:
        self.settings = settings
        parts = urlsplit(settings.endpoint)
        self._https = parts.scheme == "https"
        self._address = (parts.hostname or "", parts.port or (443 if self._https else 80))
        default_port = parts.port is None or parts.port == (443 if self._https else 80)
        server = parts.hostname if default_port else f"{parts.hostname}:{parts.port}"
        if settings.addressing == "virtual":
            self.host, self._base = f"{settings.bucket}.{server}", "/"
        else:
            self.host, self._base = str(server), f"/{settings.bucket}/"
        self._credentials = Credentials(settings.access_key, settings.secret_key, settings.session_token)
        self._ssl = ssl.create_default_context() if self._https else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._pool_size = pool_size

    # -- connections ------------------------------------------------------------
    def _connect(self) -> http.client.HTTPConnection:
        host, port = self._address
        if self._ssl is not None:
            return http.client.HTTPSConnection(host, port, timeout=self.settings.timeout, context=self._ssl)
        return http.client.HTTPConnection(host, port, timeout=self.settings.timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def release(self, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` for the next request, or close it when enough are kept."""
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections (those in use close when released)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._pool_size = 0
        for conn in idle:
            conn.close()

    # -- exchanges ----------------------------------------------------------------
    def path_of(self, key: str) -> str:
        """The decoded request path of ``key`` ("" for the bucket itself)."""
        return self._base + key if key else self._base.rstrip("/") or "/"

    def _send(self, method: str, key: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str],
              body: bytes | bytearray) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        path = self.path_of(key)
        sha256 = hashlib.sha256(body)
        digest = sha256.hexdigest()
        all_headers = {**headers, "x-amz-content-sha256": digest}
        if method == "PUT" and body and not params:
            # PutObject: the same digest as a flexible checksum, which SeaweedFS checks (it does not check
            # x-amz-content-sha256 against the body; AWS checks both). Not on parts: AWS accepts a part's
            # checksum only from an upload created with that checksum algorithm.
            all_headers["x-amz-checksum-sha256"] = base64.b64encode(sha256.digest()).decode()
        if body or method in ("PUT", "POST"):
            all_headers["Content-Length"] = str(len(body))
        signed = sign(method=method, host=self.host, path=path, params=params, headers=all_headers,
                      payload_hash=digest, credentials=self._credentials, region=self.settings.region,
                      service="s3", now=datetime.now(timezone.utc))
        query = "&".join(f"{uri_encode(k, keep_slash=False)}={uri_encode(v, keep_slash=False)}" for k, v in params)
        target = uri_encode(path, keep_slash=True) + (f"?{query}" if query else "")
        for attempt in (0, 1):
            conn, reused = self._take()
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in signed.items():
                    conn.putheader(name, value)
                conn.endheaders(body if body else None)
                return conn, conn.getresponse()
            except _STALE:
                conn.close()
                if not reused or attempt:
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    def request(self, method: str, key: str, params: Sequence[tuple[str, str]] = (),
                headers: Mapping[str, str] | None = None, body: bytes | bytearray = b"", *,
                limit: int = ERROR_BODY_LIMIT) -> Reply:
        """One exchange with its body read whole. A successful answer's body
        longer than ``limit`` raises ``TooLarge``; an error's is cut at
        ``ERROR_BODY_LIMIT`` (enough for its code)."""
        conn, response = self._send(method, key, params, headers or {}, body)
        cap = limit if response.status < 300 else min(limit, ERROR_BODY_LIMIT)
        try:
            data = response.read(cap + 1)  # HEAD: b"" at once
        except BaseException:
            conn.close()
            raise
        if response.isclosed() and not response.will_close:
            self.release(conn)  # the body was read to its end: the connection can serve the next request
        else:
            conn.close()
        if len(data) > cap and response.status < 300:
            raise TooLarge(f"{method} {key!r}: answer longer than {cap} bytes")
        return Reply(response.status, response.headers, data[:cap])

    def stream(self, method: str, key: str, headers: Mapping[str, str] | None = None) -> StreamReply:
        """One exchange whose body the caller reads through the ``StreamReply``."""
        conn, response = self._send(method, key, (), headers or {}, b"")
        return StreamReply(self, conn, response)
