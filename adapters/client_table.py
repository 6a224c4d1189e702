"""Per-client state in bounded memory.

Limits kept per client (request rates, speed budgets) need one entry per
client address, and the addresses are the clients' to choose. A
``ClientTable`` holds at most ``capacity`` entries in least-recently-used
order. An entry is dropped when it is idle (its state is again that of a
fresh one: a full bucket nobody waits on), which changes nothing; when a new
client arrives with the table full of busy entries, the least recently used
is dropped anyway (``forced``; its client starts afresh). Each entry is
dropped at most once after it was made, so the cost per lookup is constant.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, TypeVar

V = TypeVar("V")

MAX_CLIENTS = 16_384


class ClientTable(Generic[V]):
    def __init__(self, idle: Callable[[V], bool], capacity: int = MAX_CLIENTS) -> None:
        """``idle(value)``: True when ``value`` may be forgotten without
        changing any outcome (it equals what ``make`` would give)."""
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._idle = idle
        self._capacity = capacity
        self._entries: OrderedDict[str, V] = OrderedDict()
        self.forced = 0  # busy entries dropped because the table was full

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str, make: Callable[[], V]) -> V:
        """The entry of ``key``, made by ``make`` if there is none."""
        entries = self._entries
        value = entries.get(key)
        if value is not None:
            entries.move_to_end(key)
            return value
        self._drop_oldest()
        value = entries[key] = make()
        return value

    def _drop_oldest(self) -> None:
        """Drop idle entries from the least recently used end, and one busy
        entry if the table is still full."""
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if not self._idle(oldest):
                if len(entries) < self._capacity:
                    return
                self.forced += 1
            entries.popitem(last=False)
