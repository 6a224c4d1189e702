"""In-process HTTP tests: the real transport and routes, built by
``bootstrap.build_app`` on fakes, driven through an in-memory transport on an
event loop whose clock is virtual.

- ``VirtualTimeLoop``: an asyncio loop whose ``time()`` only moves when every
  task waits: where a real loop would sleep until its next timer, this one
  jumps to it. Header, keep-alive and stall timeouts of 10 or 60 seconds take
  no real time, and happen at exactly the moment the code says.
- ``Pipe``: one client connection as an ``asyncio.Transport`` handed to the
  server's protocol: the test sends bytes, half-closes, stops reading (so the
  server's writes back up and its ``pause_writing`` is called), and reads what
  the server wrote, parsed into ``Reply`` objects.

Nothing here opens a socket or a thread, so a test is a few milliseconds and
its outcome does not depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import json
import selectors
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, Iterator, TypeVar

from adapters.http.server import HttpServer
from adapters.http.static import StaticFiles
from adapters.metrics.registry import WorkerMetrics
from bootstrap import build_app, build_janitor, build_metrics
from config import Config
from domain.janitor import Janitor
from domain.lifecycle import token_hash
from ports.ledger import Record
from tests.fake_ledger import MemoryLedger
from tests.fakes import MemoryStore, SequentialIds

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    """Polls without waiting; a wait for ``timeout`` seconds becomes a jump of
    the loop's virtual clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is set")
        assert self.loop is not None
        self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = 1000.0

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` to completion on a fresh ``VirtualTimeLoop``."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main())


class LoopClock:
    """The domain's clock port on the running loop's (virtual) time."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Pipe(asyncio.Transport):
    """The server's side of one client connection, in memory."""

    def __init__(self, protocol: asyncio.Protocol, high_water: int = 64 * 1024,
                 peer: tuple[str, int] = ("127.0.0.1", 40000)) -> None:
        super().__init__()
        self.protocol = protocol
        self.peer = peer
        self.received = bytearray()  # what the server wrote and the client has "read"
        self.backlog = bytearray()   # what the server wrote while the client does not read
        self.client_reads = True
        self.high_water = high_water
        self.writing_paused = False
        self.reading = True
        self.unread: list[bytes] = []  # client bytes held while the server paused reading
        self.eof_sent = False          # the server shut down its writing side
        self.closing = False
        self.aborted = False
        self.lost = False
        protocol.connection_made(self)

    # -- asyncio.Transport, as the server sees it -------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing:
            return
        if self.client_reads:
            self.received += data
        else:
            self.backlog += data
            if len(self.backlog) > self.high_water and not self.writing_paused:
                self.writing_paused = True
                self.protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return len(self.backlog)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
        pending, self.unread = self.unread, []
        for data in pending:
            asyncio.get_running_loop().call_soon(self._deliver, data)

    def is_reading(self) -> bool:
        return self.reading

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_sent = True

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            if not self.backlog:
                self._lose()

    def abort(self) -> None:
        self.aborted = True
        self.closing = True
        self._lose()

    def _lose(self) -> None:
        if not self.lost:
            self.lost = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    # -- the client's side ---------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """The client sends ``data`` (held back while the server paused reading)."""
        if self.lost:
            raise ConnectionResetError("the server closed the connection")
        if self.reading and not self.unread:
            self._deliver(data)
        else:
            self.unread.append(data)

    def _deliver(self, data: bytes) -> None:
        if not self.lost:
            self.protocol.data_received(data)

    def send_eof(self) -> None:
        """The client half-closes; a protocol that does not keep the
        connection open is closed, as asyncio does."""
        if not self.protocol.eof_received():
            self.close()

    def stop_reading(self) -> None:
        self.client_reads = False

    def read_again(self) -> None:
        """The client reads everything that backed up; the server may write again."""
        self.client_reads = True
        self.received += self.backlog
        self.backlog.clear()
        if self.writing_paused:
            self.writing_paused = False
            self.protocol.resume_writing()
        if self.closing:
            self._lose()

    def replies(self, head_only: frozenset[int] = frozenset()) -> list[Reply]:
        """Parse (and consume) every complete response received so far;
        responses number ``i`` in ``head_only`` answer HEAD requests."""
        return list(_parse_replies(self.received, head_only))


def _parse_replies(buffer: bytearray, head_only: frozenset[int]) -> Iterator[Reply]:
    index = 0
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        _, status, reason = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
        code = int(status)
        length = 0
        if index not in head_only and code not in (204, 304) and code >= 200:
            length = int(headers.get("content-length", "0"))
        if len(buffer) < end + 4 + length:
            return
        body = bytes(buffer[end + 4:end + 4 + length])
        del buffer[:end + 4 + length]
        if code >= 200:
            index += 1
        yield Reply(code, reason, headers, body)


@dataclass
class App:
    """A service built by ``build_app`` on an in-memory store and ledger and
    the loop's clock. Its janitor is built but not running: a test calls
    ``janitor.sweep()`` or runs ``janitor.run()`` as a task. ``static``: the
    web page's files (by default the repository's ``web/``)."""

    config: Config = field(default_factory=Config)
    store: MemoryStore = field(default_factory=MemoryStore)
    ledger: MemoryLedger = field(default_factory=MemoryLedger)
    static: StaticFiles | None = None
    server: HttpServer = field(init=False)
    janitor: Janitor = field(init=False)
    metrics: WorkerMetrics = field(init=False)

    def __post_init__(self) -> None:
        clock = LoopClock()
        self.metrics = WorkerMetrics(build_metrics(self.config), 0)
        self.server = build_app(self.config, self.store, clock, SequentialIds(), self.ledger, static=self.static,
                                metrics=self.metrics)
        self.janitor = build_janitor(self.config, self.store, self.ledger, clock, self.metrics.recorder)

    async def put(self, file_id: str, data: bytes, metadata: dict[str, str], max_downloads: int | None = None,
                  expires: float | None = None) -> None:
        """A stored file, as an upload leaves it: the blob and its ledger record
        (delete token ``token-<id>``; ``expires`` in the clock's wall seconds)."""
        self.store.blobs[file_id] = (data, dict(metadata))
        await self.ledger.add(Record(file_id, len(data), 0.0, expires, max_downloads, 0,
                                     token_hash(f"token-{file_id}"), ""))

    def connect(self, high_water: int = 64 * 1024, peer: tuple[str, int] = ("127.0.0.1", 40000)) -> Pipe:
        """A new client connection from ``peer`` (must be called with the loop running)."""
        return Pipe(self.server.protocol_factory(), high_water, peer)


async def settle(seconds: float = 0.0) -> None:
    """Let the server run until it waits, and ``seconds`` of virtual time pass."""
    await asyncio.sleep(seconds)
    for _ in range(50):
        await asyncio.sleep(0)
