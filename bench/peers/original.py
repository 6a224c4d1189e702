"""A replica of the service's original approach, the baseline the issue starts
from: the stdlib ``ThreadingHTTPServer`` speaking HTTP/1.0 (one request per
connection, a thread each), a directory scan (``os.listdir``) per check and per
download, and whole bodies held in memory (an upload is read completely before
it is written; a download is read completely before it is sent). Same API paths
as the service; request logging to stderr left on, as the stdlib does by default.

    python3 -m bench.peers.original --port 8001 --data DIR --uploads DIR
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Sequence

from bench.peers.cli import new_id, parse_peer_args


class OriginalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], data: Path, uploads: Path) -> None:
        super().__init__(address, OriginalHandler)
        self.data = data
        self.uploads = uploads


class OriginalHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: OriginalServer

    def _json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _find(self, file_id: str) -> Path | None:
        """The original looked a file up by listing its directory, every time."""
        for directory in (self.server.data, self.server.uploads):
            if file_id in os.listdir(directory):
                return directory / file_id
        return None

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
        if self.path.startswith("/check/"):
            file_id = self.path[len("/check/"):]
            found = self._find(file_id)
            if found is None:
                self._json(404, {"status": 404, "file": file_id, "message": "is not found"})
            else:
                self._json(200, {"status": 200, "file": file_id, "message": "is ready to download",
                                 "id": file_id, "size": found.stat().st_size})
        elif self.path.startswith("/download/"):
            file_id = self.path[len("/download/"):]
            found = self._find(file_id)
            if found is None:
                self._json(404, {"status": 404, "file": file_id, "message": "is not found"})
                return
            body = found.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", f'attachment; filename="{file_id}"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json(404, {"status": 404, "message": "no such endpoint"})

    def do_POST(self) -> None:  # noqa: N802
        if not self.path.startswith("/upload"):
            self._json(404, {"status": 404, "message": "no such endpoint"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        file_id = new_id()
        (self.server.uploads / file_id).write_bytes(body)
        name = self.path[len("/upload/"):] or file_id
        host = self.headers.get("Host", "localhost")
        self._json(201, {"status": 201, "fileisuploaded": name, "linkforcheck": f"http://{host}/check/{file_id}",
                         "linkfordownload": f"http://{host}/download/{file_id}", "id": file_id, "size": len(body)})

    do_PUT = do_POST


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_peer_args(argv, "the original approach: ThreadingHTTPServer, HTTP/1.0, listdir, whole bodies")
    server = OriginalServer((args.host, args.port), args.data, args.uploads)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
