"""The write side of one connection: writes, waits for a slow peer, and
zero-copy file sends, each bounded by the stall timeout measured as a lack
of progress, never as the length of a transfer.

Progress is the number of bytes the peer has not taken yet (``unsent``: the
transport's buffer plus the kernel's send queue) falling. The kernel's
socket buffer may hold megabytes (Linux grows it to 4 MiB), so a peer reading
slowly but steadily can take seconds before the kernel takes more from us,
while that number falls all along; a peer that stopped reading acknowledges
nothing, and it stays put.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import struct
import sys
import termios
from typing import Callable

from adapters.http.deadlines import Deadline, StallTimeout
from ports.storage import BlobReader, SendfileSource

# Linux's SIOCOUTQ: bytes in a socket's send queue, not yet acknowledged by the peer.
SIOCOUTQ: int | None = termios.TIOCOUTQ if sys.platform.startswith("linux") else None
READ_SLICE = 1 << 20  # bytes read at once from a store without a descriptor

Sent = Callable[[int], None]


def kernel_queued(fd: int) -> int:
    """Bytes the kernel still holds for the peer on socket ``fd`` (sent but
    not acknowledged, or not yet sent); 0 where the platform does not say."""
    if SIOCOUTQ is None or fd < 0:
        return 0
    try:
        queued: int = struct.unpack("i", fcntl.ioctl(fd, SIOCOUTQ, bytes(4)))[0]
    except OSError:
        return 0
    return queued


def unsent(transport: asyncio.Transport) -> int:
    """Bytes written to ``transport`` that the peer has not yet taken: its
    buffer plus the kernel's send queue (see the module docstring)."""
    sock = transport.get_extra_info("socket")
    return transport.get_write_buffer_size() + (kernel_queued(sock.fileno()) if sock is not None else 0)


def _push(sock: socket.socket) -> None:
    """Send what the kernel holds back now. Linux's ``sendfile`` marks what it
    queues as "more to come" (like ``MSG_MORE``), so the tail of a body, a
    whole small file above all, waits for the peer's delayed ACK, about 40 ms
    a download on keep-alive connections. Setting ``TCP_NODELAY`` (again)
    pushes pending frames out at once."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # not TCP (a Unix socket), or already gone: nothing to push
        pass


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Sender:
    """Owns the writing half of a transport. The protocol forwards
    ``pause_writing``, ``resume_writing`` and ``connection_lost`` to it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, deadline: Deadline,
                 stall_timeout: float) -> None:
        self._loop = loop
        self._transport = transport
        self._deadline = deadline
        self._stall_timeout = stall_timeout
        self.paused = False  # the transport's buffer is above its high-water mark
        self.lost = False
        self._waiter: asyncio.Future[None] | None = None

    # -- from the protocol ------------------------------------------------------------

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_lost(self) -> None:
        self.lost = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost"))

    # -- writing ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data`` without waiting (small answers; the caller drains
        before the next request, see ``drain``)."""
        if not self.lost:
            self._transport.write(data)

    def check_open(self) -> None:
        # The transport is closing before ``connection_lost`` runs when a
        # write hit a reset peer; writing on would only fail less clearly.
        if self.lost or self._transport.is_closing():
            raise ConnectionResetError("connection lost")

    async def send(self, data: bytes, sent: Sent) -> None:
        """Write and wait while the peer is not keeping up (see ``drain``).
        Reports the bytes handed over through ``sent``: all of ``data`` once
        written (what is left in the transport's buffer goes out on its
        own), or if the wait fails, those that reached the kernel."""
        self.check_open()
        transport = self._transport
        transport.write(data)
        if self.paused:
            try:
                await self.drain()
            except BaseException:
                # The buffer is first in, first out: what is still queued is
                # the tail of ``data``. A lost transport dropped its buffer,
                # so nothing is known to have gone.
                if not (self.lost or transport.is_closing()):
                    sent(max(0, len(data) - transport.get_write_buffer_size()))
                raise
        sent(len(data))

    async def drain(self) -> None:
        """Wait until the transport's buffer is back under its low-water
        mark. Every stall timeout the bytes the peer has not taken
        (``unsent``) are looked at again, and only if not one was taken since
        the last look does this raise ``StallTimeout`` (so between one and two
        stall timeouts after the last progress). Raises
        ``ConnectionResetError`` if the connection is lost."""
        left = unsent(self._transport)
        while self.paused:
            self.check_open()
            try:
                await self._wait(self._stall_timeout)
            except StallTimeout:
                if unsent(self._transport) >= left:
                    raise
                left = unsent(self._transport)

    async def _wait(self, timeout: float, fd: int = -1) -> None:
        """Wait for ``resume_writing`` (or, with ``fd``, for ``fd`` to be
        writable): ``StallTimeout`` after ``timeout`` seconds,
        ``ConnectionResetError`` if the connection is lost."""
        waiter = self._loop.create_future()
        self._waiter = waiter
        if fd >= 0:
            self._loop.add_writer(fd, _wake, waiter)
        self._deadline.arm(waiter, timeout, StallTimeout)
        try:
            await waiter
        finally:
            if fd >= 0:
                self._loop.remove_writer(fd)
            self._deadline.disarm()
            self._waiter = None

    async def send_file(self, reader: BlobReader, offset: int, count: int, sent: Sent) -> None:
        """Send ``count`` bytes of the blob from ``offset``: zero-copy with
        ``os.sendfile`` when the reader has a descriptor, else by reading.
        ``sent(n)`` is called for every ``n`` bytes handed to the kernel, so
        a transfer cut midway is counted as far as it went.

        ``StallTimeout`` once a stall timeout passes without a successful
        write and without the kernel's send queue falling. ``loop.sendfile``
        cannot do this (a cancelled call does not tell how far it got, so
        only a timeout around a whole call was possible, which cut off steady
        slow readers), so this drives ``os.sendfile`` on the non-blocking
        socket itself: after the transport's buffer (the response head) has
        gone, one call per writable event, each sending what the socket
        buffer takes. The event loop refuses to watch a descriptor a
        transport owns, so it watches a duplicate of the socket's."""
        sock = self._transport.get_extra_info("socket")
        if not isinstance(reader, SendfileSource) or sock is None:
            await self._send_by_reading(reader, offset, count, sent)
            return
        await self._flush()
        self.check_open()
        loop = self._loop
        fd = reader.fileno()
        sock_fd = sock.fileno()
        # The duplicate to watch and the send queue to compare with are only
        # needed for a wait: a body the socket buffer takes at once (a 1 MiB
        # file on a fast link) costs one sendfile and no other syscall. The
        # socket's own descriptor is used only before the first wait: during
        # a wait the transport may close it (the peer went away), and its
        # number may then be another connection's; after a wait every call
        # goes to the duplicate, which stays this connection's.
        out = -1
        try:
            last_progress = loop.time()
            queued = -1  # the kernel's send queue since the last progress; read before a wait
            while count > 0:
                try:
                    n = os.sendfile(sock_fd if out < 0 else out, fd, offset, count)
                except BlockingIOError:
                    n = -1
                if n == 0:
                    # The file shrank under us: the promised length cannot be
                    # sent, so the caller must abort rather than leave the
                    # client waiting for bytes that will never come.
                    raise OSError(f"blob ended at byte {offset}, {count} bytes short of its size")
                if n > 0:
                    offset += n
                    count -= n
                    sent(n)
                    last_progress = loop.time()
                    queued = -1
                if count > 0:
                    if out < 0:
                        out = os.dup(sock_fd)
                    if queued < 0:
                        queued = kernel_queued(out)
                    try:
                        await self._wait(last_progress + self._stall_timeout - loop.time(), out)
                    except StallTimeout:
                        if kernel_queued(out) >= queued:
                            raise
                        last_progress = loop.time()  # the peer is still taking what the kernel holds
                        queued = kernel_queued(out)
            _push(sock)
        finally:
            if out >= 0:
                os.close(out)

    async def _flush(self) -> None:
        """Wait until the transport has handed all it holds to the kernel,
        so that bytes sent around it cannot overtake them. A high-water mark
        of 0 makes the transport pause our writing while anything is queued
        and resume it once nothing is; ``drain`` times the wait."""
        transport = self._transport
        if not transport.get_write_buffer_size():
            return
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0)
        try:
            await self.drain()
        finally:
            transport.set_write_buffer_limits(high=high, low=low)

    async def _send_by_reading(self, reader: BlobReader, offset: int, count: int, sent: Sent) -> None:
        end = offset + count
        while offset < end:
            data = await reader.read_at(offset, min(READ_SLICE, end - offset))
            if not data:
                raise OSError("blob is shorter than its recorded size")
            await self.send(data, sent)
            offset += len(data)
