"""Request ids: a client's sane id is kept, anything else replaced; fresh
ids are unique per process and apart between processes."""

from __future__ import annotations

import itertools

import pytest

from adapters.http import request_id
from adapters.http.request_id import MAX_LENGTH, RequestIds, is_sane


@pytest.mark.parametrize("offered", [
    "abc", "5f3a9c0d00000001", "0af7651916cd43dd8448eb211c80319c", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
    "Root=1-5759e988-bd862e3fe1be46a994272793", "a/b+c==", "trace:span", "x" * MAX_LENGTH,
])
def test_a_sane_client_id_is_echoed(offered: str) -> None:
    assert is_sane(offered)
    assert RequestIds().choose(offered) == offered


@pytest.mark.parametrize("offered", [
    "", "x" * (MAX_LENGTH + 1), "a b", "a,b", "one, two", 'a"b', "a;b", "a\\b", "a\nb", "a\rb", "a\x00b",
    "a\tb", "caf\xe9", "\u2028", "<script>", "id\n2026-12-02T00:00:00.000Z INFO uds.access: forged",
])
def test_an_insane_client_id_is_replaced_by_a_fresh_one(offered: str) -> None:
    assert not is_sane(offered)
    chosen = RequestIds().choose(offered)
    assert chosen != offered and len(chosen) == 16 and int(chosen, 16) >= 0


def test_without_a_client_id_a_fresh_one() -> None:
    ids = RequestIds(lambda n: bytes(range(n)))
    assert ids.choose(None) == "0001020300000001"
    assert ids.choose(None) == "0001020300000002"


def test_fresh_ids_are_unique_in_a_process() -> None:
    ids = RequestIds()
    seen = {ids.new() for _ in range(10_000)}
    assert len(seen) == 10_000
    assert all(len(i) == 16 and i == i.lower() and int(i, 16) >= 0 for i in seen)


def test_when_the_counter_wraps_the_prefix_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_id, "COUNTER_LIMIT", 3)
    draws = itertools.count()
    ids = RequestIds(lambda n: next(draws).to_bytes(n, "big"))
    assert [ids.new() for _ in range(4)] == ["0000000000000001", "0000000000000002",
                                             "0000000100000001", "0000000100000002"]
