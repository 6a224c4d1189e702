"""``HttpConnection.send_file`` on a real socket: its zero-copy bytes go
beside the transport, so they must wait until whatever the transport still
holds (earlier answers, the response head) has gone, and every byte handed
to the kernel is reported."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from adapters.http.connection import HttpConnection, TransportConfig
from adapters.http.server import HttpServer
from ports.storage import BlobInfo


class FileReader:
    """The ``BlobReader`` port over a plain file."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._size = path.stat().st_size

    @property
    def info(self) -> BlobInfo:
        return BlobInfo(self._size, {})

    async def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        os.close(self._fd)


async def no_handler(exchange: object) -> None:
    raise AssertionError("not called")


def read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        assert chunk, "closed early"
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def test_file_bytes_wait_for_what_the_transport_still_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 MiB written through the transport, more than the kernel takes,
    then a 1 MiB file: every ``os.sendfile`` call must find the transport's
    buffer empty, and the peer gets the bytes in order."""
    data = os.urandom(1 << 20)
    (tmp_path / "blob").write_bytes(data)
    queued = b"q" * (16 << 20)  # more than the kernel takes: the rest waits in the transport's buffer

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        config = TransportConfig(header_timeout=60, keepalive_timeout=60, body_timeout=10)
        connection = HttpConnection(HttpServer(lambda: no_handler, config), no_handler)
        held_at_sendfile: list[int] = []
        real_sendfile = os.sendfile

        def watched_sendfile(out: int, fd: int, offset: int, count: int) -> int:
            assert connection.transport is not None
            held_at_sendfile.append(connection.transport.get_write_buffer_size())
            return real_sendfile(out, fd, offset, count)

        monkeypatch.setattr(os, "sendfile", watched_sendfile)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            peer = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            peer.connect(listener.getsockname())
            ours, _ = listener.accept()
        with peer:
            peer.settimeout(20)
            await loop.connect_accepted_socket(lambda: connection, ours)
            assert connection.transport is not None
            connection.write(queued)
            assert connection.transport.get_write_buffer_size() > 0
            received = asyncio.ensure_future(asyncio.to_thread(read_exactly, peer, len(queued) + len(data)))
            reader = FileReader(tmp_path / "blob")
            counted: list[int] = []
            try:
                await connection.send_file(reader, 0, len(data), counted.append)
            finally:
                reader.close()
            got = await received
            connection.cancel()
            connection.abort()
            task = connection.task
            assert task is not None
            await asyncio.gather(task, return_exceptions=True)
        assert held_at_sendfile and not any(held_at_sendfile), held_at_sendfile
        assert got[:len(queued)] == queued, "file bytes overtook what the transport held"
        assert got[len(queued):] == data
        assert sum(counted) == len(data) and all(n > 0 for n in counted)

    asyncio.run(scenario())


def test_a_file_the_socket_takes_at_once_costs_one_sendfile_and_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No duplicate descriptor (made only to wait for the socket) and no
    reading of the send queue (only compared across a wait) when the first
    ``os.sendfile`` takes the whole body."""
    data = os.urandom(64 << 10)
    (tmp_path / "blob").write_bytes(data)
    calls: list[str] = []
    real_dup, real_sendfile = os.dup, os.sendfile

    def dup(fd: int) -> int:
        calls.append("dup")
        return real_dup(fd)

    def sendfile(out: int, fd: int, offset: int, count: int) -> int:
        calls.append("sendfile")
        return real_sendfile(out, fd, offset, count)

    def queued(fd: int) -> int:
        calls.append("queued")
        return 0

    monkeypatch.setattr(os, "dup", dup)
    monkeypatch.setattr(os, "sendfile", sendfile)
    monkeypatch.setattr("adapters.http.sender.kernel_queued", queued)

    async def scenario() -> bytes:
        loop = asyncio.get_running_loop()
        config = TransportConfig(header_timeout=60, keepalive_timeout=60, body_timeout=10)
        connection = HttpConnection(HttpServer(lambda: no_handler, config), no_handler)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            peer = socket.create_connection(listener.getsockname())
            ours, _ = listener.accept()
        with peer:
            peer.settimeout(20)
            await loop.connect_accepted_socket(lambda: connection, ours)
            reader = FileReader(tmp_path / "blob")
            try:
                await connection.send_file(reader, 0, len(data), lambda n: None)
            finally:
                reader.close()
            got = await asyncio.to_thread(read_exactly, peer, len(data))
            connection.cancel()
            connection.abort()
            assert connection.task is not None
            await asyncio.gather(connection.task, return_exceptions=True)
        return got

    assert asyncio.run(scenario()) == data
    assert calls == ["sendfile"]


def test_after_a_wait_file_bytes_go_to_the_duplicate_never_to_the_sockets_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """During a wait the transport may close its socket (the peer reset),
    and the freed number may be another connection's by the next call: only
    the first ``os.sendfile`` (before any wait) may use the socket's own
    descriptor; every later one goes to the duplicate made for the wait.
    (Calls on the closed number failed with EBADF, a traceback in the log, in
    tests/e2e/test_hostile_clients.py.)"""
    data = os.urandom(8 << 20)  # more than the socket buffers take: waits are needed
    (tmp_path / "blob").write_bytes(data)
    targets: list[int] = []
    real_sendfile = os.sendfile

    def sendfile(out: int, fd: int, offset: int, count: int) -> int:
        targets.append(out)
        return real_sendfile(out, fd, offset, count)

    monkeypatch.setattr(os, "sendfile", sendfile)

    async def scenario() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        config = TransportConfig(header_timeout=60, keepalive_timeout=60, body_timeout=10)
        connection = HttpConnection(HttpServer(lambda: no_handler, config), no_handler)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            peer = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            peer.connect(listener.getsockname())
            ours, _ = listener.accept()
        own = ours.fileno()
        with peer:
            peer.settimeout(20)
            await loop.connect_accepted_socket(lambda: connection, ours)
            received = asyncio.ensure_future(asyncio.to_thread(read_exactly, peer, len(data)))
            reader = FileReader(tmp_path / "blob")
            try:
                await connection.send_file(reader, 0, len(data), lambda n: None)
            finally:
                reader.close()
            got = await received
            connection.cancel()
            connection.abort()
            assert connection.task is not None
            await asyncio.gather(connection.task, return_exceptions=True)
        return got, own

    got, own = asyncio.run(scenario())
    assert got == data
    assert len(targets) > 1, "the body went in one call: no wait happened"
    assert targets[0] == own and own not in targets[1:], targets
