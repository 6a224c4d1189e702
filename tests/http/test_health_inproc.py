"""GET /healthz asks the store whether it could take an upload now (the
HealthReport capability); a store without it is taken as healthy."""

from __future__ import annotations

from tests.fakes import MemoryStore
from tests.inproc import App, run, settle


class SickStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.problem: str | None = "storage is not writable: Read-only file system"

    async def health(self) -> str | None:
        return self.problem


def test_healthz_is_503_with_the_reason_while_the_store_cannot_take_uploads() -> None:
    async def main() -> None:
        store = SickStore()
        app = App(store=store)
        pipe = app.connect()
        pipe.send(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        [sick] = pipe.replies()
        assert sick.status == 503 and sick.headers["retry-after"] == "30"
        assert sick.json() == {"status": 503, "message": "storage is not writable: Read-only file system"}
        store.problem = None
        pipe.send(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        [well] = pipe.replies()
        assert (well.status, well.json()) == (200, {"status": 200, "message": "ok"})

    run(main)


def test_a_store_without_the_capability_is_healthy() -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        pipe.send(b"HEAD /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        assert [r.status for r in pipe.replies(head_only=frozenset({0}))] == [200]

    run(main)
