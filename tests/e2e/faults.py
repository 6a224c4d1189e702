"""Tools for the fault-injection tests: what a running server holds (open
fds, resident memory, via /proc), what its storage directory holds, a small
tmpfs to fill up, and polling with a deadline instead of fixed sleeps."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from adapters.ledger.sqlite import SqliteLedger
from adapters.ledger.startup import add_records
from ports.ledger import Record


def descriptor_targets(pid: int) -> list[str]:
    """What each of process ``pid``'s open descriptors points at."""
    targets = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except FileNotFoundError:  # closed meanwhile
            pass
    return targets


def open_sockets(pid: int) -> int:
    """How many of process ``pid``'s descriptors are sockets (not the files,
    pipes and database handles that worker threads open as they are used)."""
    return sum(target.startswith("socket:") for target in descriptor_targets(pid))


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (VmRSS) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def blob_files(storage: Path) -> list[Path]:
    """Committed blobs: the files under ``objects/``."""
    objects = storage / "objects"
    return sorted(p for p in objects.rglob("*") if p.is_file()) if objects.is_dir() else []


def data_files(storage: Path) -> list[Path]:
    """Every file under the storage directory except the ledger's
    (``ledger.sqlite3`` and its WAL files): blobs and uploads in progress."""
    return sorted(p for p in storage.rglob("*") if p.is_file() and not p.name.startswith("ledger.sqlite3"))


def add_record(storage: Path, file_id: str, size: int, **fields: Any) -> None:
    """Give a blob planted under a running service its ledger record (the
    service shares the SQLite ledger: a record added here is seen there)."""
    ledger = SqliteLedger(storage / "ledger.sqlite3")
    try:
        values: dict[str, Any] = {"created": 0.0, "expires": None, "max_downloads": None, "downloads": 0,
                                  "delete_token_hash": "0" * 64, "client": "", **fields}
        assert add_records(ledger, [Record(id=file_id, size=size, **values)]) == 1
    finally:
        ledger.close()


def tmp_files(storage: Path) -> list[Path]:
    """Uploads in progress (or left over): the files under ``tmp/``."""
    tmp = storage / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 20 ms; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. ``8m``) on ``path`` for the block; it is
    unmounted on the way out, whatever happens. Skips the test where mounting
    is impossible (not root, or no CAP_SYS_ADMIN in this container)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if _run("umount", str(path)).returncode != 0:
            _run("umount", "-l", str(path))  # still busy: detach now, freed when released


def remount_read_only(path: Path) -> None:
    result = _run("mount", "-o", "remount,ro", str(path))
    assert result.returncode == 0, result.stderr
