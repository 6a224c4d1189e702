"""aiohttp peer: the same API written the way the aiohttp docs suggest.
``FileResponse`` for downloads (sendfile), a streaming upload handler that
writes chunks as they arrive and does not fsync, ``json_response`` for checks.
Access log off (the service runs with ``--log-level warning``).

    python3 -m bench.peers.aiohttp_app --port 8002 --data DIR --uploads DIR
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from aiohttp import web

from bench.peers.cli import PeerArgs, new_id, parse_peer_args, safe_id

UPLOAD_CHUNK = 256 * 1024


def make_app(args: PeerArgs) -> web.Application:
    async def check(request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        try:
            size = os.stat(args.data / file_id).st_size if safe_id(file_id) else -1
        except FileNotFoundError:
            size = -1
        if size < 0:
            return web.json_response({"status": 404, "file": file_id, "message": "is not found"}, status=404)
        return web.json_response({"status": 200, "file": file_id, "message": "is ready to download",
                                  "id": file_id, "size": size})

    async def download(request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["id"]
        path = args.data / file_id
        if not safe_id(file_id) or not path.is_file():
            return web.json_response({"status": 404, "file": file_id, "message": "is not found"}, status=404)
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream",
                                               "Content-Disposition": f'attachment; filename="{file_id}"'})

    async def upload(request: web.Request) -> web.Response:
        file_id = new_id()
        size = 0
        with open(args.uploads / file_id, "wb") as out:
            async for chunk in request.content.iter_chunked(UPLOAD_CHUNK):
                out.write(chunk)
                size += len(chunk)
        name = request.match_info.get("name") or file_id
        return web.json_response({"status": 201, "fileisuploaded": name, "id": file_id, "size": size}, status=201)

    app = web.Application()
    app.router.add_get("/check/{id}", check)
    app.router.add_get("/download/{id}", download)
    app.router.add_route("PUT", "/upload/{name}", upload)
    app.router.add_post("/upload/{name}", upload)
    app.router.add_post("/upload/", upload)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_peer_args(argv, "aiohttp peer")
    web.run_app(make_app(args), host=args.host, port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
