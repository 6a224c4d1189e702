"""The files every server is measured on, made once per run in the work
directory (on the disk under test): a small file for ``/check``, 1 MiB and
the big file for downloads and uploads, and the 64 KiB upload bodies."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from bench.peers.cli import new_id

MIB = 1 << 20
SMALL_UPLOAD = 64 * 1024
BOUNDARY = "benchboundary7d1f0c"


def _write_random(path: Path, size: int, rng: random.Random) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            block = rng.randbytes(min(MIB, left))
            out.write(block)
            left -= len(block)


@dataclass(frozen=True)
class Fixtures:
    """``served``: the files downloads and checks use, by role (check, mib,
    big); ``peer_ids``: the id each has on every peer; the upload bodies: raw
    64 KiB, and the same bytes as a multipart form whose file name carries the
    ``@@N@@`` tag (for uploadserver)."""

    served: dict[str, Path]
    peer_ids: dict[str, str]
    small_body: Path
    small_multipart: Path

    @property
    def big(self) -> Path:
        return self.served["big"]

    def link_into(self, directory: Path) -> None:
        """Hard links (no copies) to the served files, named by their peer ids."""
        directory.mkdir(parents=True, exist_ok=True)
        for role, path in self.served.items():
            os.link(path, directory / self.peer_ids[role])


def make_fixtures(directory: Path, big_mib: int) -> Fixtures:
    directory.mkdir(parents=True)
    rng = random.Random(6)
    check = directory / "check.txt"
    check.write_bytes(b"a small file the /check load asks about\n")
    mib = directory / "mib.bin"
    _write_random(mib, MIB, rng)
    big = directory / "big.bin"
    _write_random(big, big_mib * MIB, rng)
    small = directory / "small.bin"
    _write_random(small, SMALL_UPLOAD, rng)
    multipart = directory / "small.multipart"
    multipart.write_bytes(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="up-@@N@@.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + small.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode())
    return Fixtures(
        served={"check": check, "mib": mib, "big": big},
        peer_ids={role: new_id() for role in ("check", "mib", "big")},
        small_body=small,
        small_multipart=multipart,
    )


def multipart_content_type() -> str:
    return f"multipart/form-data; boundary={BOUNDARY}"
