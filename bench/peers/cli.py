"""The command line every Python peer shares, so the harness starts them all
the same way: where to listen, where the files to serve are, where uploads go."""

from __future__ import annotations

import argparse
import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class PeerArgs:
    host: str
    port: int
    data: Path
    uploads: Path


def parse_peer_args(argv: Sequence[str] | None, description: str) -> PeerArgs:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="directory of files served as /download/<id>")
    parser.add_argument("--uploads", type=Path, required=True, help="directory uploads are written to")
    args = parser.parse_args(argv)
    return PeerArgs(args.host, args.port, args.data, args.uploads)


def new_id() -> str:
    """An id shaped like the service's: 128 random bits, 26 lowercase base32 characters."""
    return base64.b32encode(os.urandom(16)).decode("ascii").rstrip("=").lower()


def safe_id(text: str) -> bool:
    """Peers take ids from the path: refuse anything that could leave the data directory."""
    return bool(text) and text.isalnum() and text.isascii()
