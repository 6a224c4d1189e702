"""Raw-socket HTTP/1.1 for end-to-end tests: send exact bytes, read exact
responses, and tell a connection the server closed from one that merely went
quiet (which ``Service.raw`` cannot)."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw_head: bytes

    def json(self) -> dict[str, object]:
        payload = json.loads(self.body)
        assert isinstance(payload, dict)
        return payload


class Wire:
    """One client connection. Every read is bounded by ``timeout``."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Read more into the buffer; False when the server closed."""
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def reply(self, head_only: bool = False) -> Reply:
        """The next complete response (its body framed by Content-Length,
        none for HEAD, 1xx, 204 and 304). Raises ``AssertionError`` if the
        connection closes first and ``TimeoutError`` if it stays silent."""
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill(deadline):
                raise AssertionError(f"connection closed before a full response head: {self.buffer[:200]!r}")
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        version, code, _ = (lines[0] + " ").split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"repeated header {name}"
            headers[name.lower()] = value.strip()
        status = int(code)
        length = 0 if head_only or status < 200 or status in (204, 304) else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not self._fill(deadline):
                raise AssertionError(f"connection closed in the body: {len(self.buffer)} of {length} bytes")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Reply(status, headers, body, raw_head)

    def closed_by_server(self, within: float | None = None) -> bool:
        """True if the server closes the connection (after any bytes still
        buffered) within ``within`` seconds; any further byte is a failure."""
        deadline = time.monotonic() + (self.timeout if within is None else within)
        while time.monotonic() < deadline:
            try:
                if not self._fill(deadline):
                    assert not self.buffer, f"unexpected bytes before the close: {self.buffer[:200]!r}"
                    return True
            except TimeoutError:
                return False
        return False


def one_exchange(host: str, port: int, request: bytes, timeout: float = 5.0) -> tuple[Reply, bool]:
    """Send ``request`` on a fresh connection; the reply and whether the
    server then closed the connection."""
    with Wire(host, port, timeout) as wire:
        wire.send(request)
        reply = wire.reply()
        return reply, wire.closed_by_server()
