"""AWS Signature Version 4 for requests signed in the Authorization header.

Pure functions (no I/O, no clock: the caller passes the time), so the AWS
published test vectors check them byte for byte (tests/unit/test_sigv4.py).
What S3 needs and nothing more: header signing with a payload hash the caller
gives (a SHA-256 hex digest, or ``UNSIGNED-PAYLOAD``); no presigned URLs, no
chunked streaming signatures.

Paths are given decoded (``/bucket/naïve key``) and encoded here once, the way
S3 wants (RFC 3986 unreserved characters kept, ``/`` kept): S3 is the one
service whose canonical path is not normalized or encoded twice, and the
other services' vectors in the suite use plain paths for which both agree.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping, Sequence
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Credentials:
    """An access key pair, and the session token of temporary credentials."""

    access_key: str
    secret_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never the secret in a log line or a traceback
        return f"Credentials(access_key={self.access_key!r}, secret_key=***, session_token=***)"


def uri_encode(text: str, *, keep_slash: bool) -> str:
    """Percent-encode UTF-8 ``text`` except RFC 3986 unreserved characters
    (and ``/`` when ``keep_slash``), upper-case hex, as SigV4 prescribes."""
    return quote(text, safe="-_.~/" if keep_slash else "-_.~")


def canonical_query(params: Sequence[tuple[str, str]]) -> str:
    """``k=v`` pairs, each side encoded, sorted by key then value, joined by ``&``."""
    encoded = sorted((uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _trim(value: str) -> str:
    # Leading and trailing blanks go, inner runs of blanks become one space.
    return " ".join(value.split())


def canonical_request(method: str, path: str, params: Sequence[tuple[str, str]],
                      headers: Mapping[str, str], payload_hash: str) -> tuple[str, str]:
    """The canonical request and its signed-headers list (every header given
    is signed). ``headers`` names are case-insensitive; duplicates are not
    supported (the client never sends any)."""
    lowered = sorted((name.lower().strip(), _trim(value)) for name, value in headers.items())
    signed = ";".join(name for name, _ in lowered)
    lines = [method, uri_encode(path, keep_slash=True), canonical_query(params)]
    lines += [f"{name}:{value}" for name, value in lowered]
    lines += ["", signed, payload_hash]
    return "\n".join(lines), signed


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """The key derived for one day, region and service (``AWS4`` + secret, HMAC chain)."""
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def amz_date(now: datetime) -> str:
    """``now`` (aware) as the ``X-Amz-Date`` basic ISO 8601 form in UTC."""
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def sign(*, method: str, host: str, path: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str],
         payload_hash: str, credentials: Credentials, region: str, service: str, now: datetime) -> dict[str, str]:
    """The headers to send: ``headers`` plus ``Host``, ``X-Amz-Date``, the
    session token when there is one, and ``Authorization``. Every header in
    the result but ``Authorization`` is signed. ``payload_hash`` is signed
    as is; S3 also wants it sent as ``x-amz-content-sha256``, which the
    caller adds to ``headers`` (the generic test vectors do not)."""
    stamp = amz_date(now)
    out = {name: value for name, value in headers.items() if name.lower() not in ("host", "authorization")}
    out["Host"] = host
    out["X-Amz-Date"] = stamp
    if credentials.session_token:
        out["X-Amz-Security-Token"] = credentials.session_token
    request, signed = canonical_request(method, path, params, out, payload_hash)
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = signing_key(credentials.secret_key, stamp[:8], region, service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                            f"SignedHeaders={signed}, Signature={signature}")
    return out
