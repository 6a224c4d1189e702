"""The bounded identity memo behind parsed file records, check bodies and download headers."""

from __future__ import annotations

from domain.memo import IdentityMemo


def test_value_is_made_once_per_source_object_and_remade_when_it_changes() -> None:
    made: list[str] = []

    def make(key: str, source: list[int]) -> str:
        made.append(key)
        return f"{key}:{sum(source)}"

    memo: IdentityMemo[list[int], str] = IdentityMemo(make)
    first = [1, 2]
    assert memo.get("a", first) == "a:3"
    assert memo.get("a", first) == "a:3" and made == ["a"]
    assert memo.get("a", [1, 2]) == "a:3" and made == ["a", "a"]  # an equal but new record is made again
    assert memo.get("a", [5]) == "a:5"


def test_oldest_entry_goes_first_at_the_limit() -> None:
    made: list[str] = []

    def make(key: str, _: object) -> str:
        made.append(key)
        return key

    memo: IdentityMemo[object, str] = IdentityMemo(make, limit=2)
    records = {key: object() for key in "abc"}
    for key in "abc":
        memo.get(key, records[key])
    made.clear()
    memo.get("c", records["c"])
    memo.get("b", records["b"])
    memo.get("a", records["a"])  # evicted by "c"
    assert made == ["a"]
