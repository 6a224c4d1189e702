"""uvicorn + starlette peer: the same API with starlette's ``FileResponse`` for
downloads, a streaming upload (``request.stream()``, no fsync) and
``JSONResponse`` checks, served by uvicorn with its httptools parser on the
stdlib asyncio loop (the loop the service and the aiohttp peer use too).
Access log off.

    python3 -m bench.peers.starlette_app --port 8003 --data DIR --uploads DIR
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from bench.peers.cli import PeerArgs, new_id, parse_peer_args, safe_id


def make_app(args: PeerArgs) -> Starlette:
    def not_found(file_id: str) -> JSONResponse:
        return JSONResponse({"status": 404, "file": file_id, "message": "is not found"}, status_code=404)

    async def check(request: Request) -> Response:
        file_id = str(request.path_params["id"])
        try:
            size = os.stat(args.data / file_id).st_size if safe_id(file_id) else -1
        except FileNotFoundError:
            size = -1
        if size < 0:
            return not_found(file_id)
        return JSONResponse({"status": 200, "file": file_id, "message": "is ready to download",
                             "id": file_id, "size": size})

    async def download(request: Request) -> Response:
        file_id = str(request.path_params["id"])
        path = args.data / file_id
        if not safe_id(file_id) or not path.is_file():
            return not_found(file_id)
        return FileResponse(path, media_type="application/octet-stream", filename=file_id)

    async def upload(request: Request) -> Response:
        file_id = new_id()
        size = 0
        with open(args.uploads / file_id, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
                size += len(chunk)
        name = str(request.path_params.get("name") or file_id)
        return JSONResponse({"status": 201, "fileisuploaded": name, "id": file_id, "size": size}, status_code=201)

    return Starlette(routes=[
        Route("/check/{id}", check, methods=["GET"]),
        Route("/download/{id}", download, methods=["GET"]),
        Route("/upload/{name}", upload, methods=["PUT", "POST"]),
        Route("/upload/", upload, methods=["POST"]),
    ])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_peer_args(argv, "uvicorn + starlette peer")
    uvicorn.run(make_app(args), host=args.host, port=args.port, http="httptools", loop="asyncio",
                lifespan="off", access_log=False, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
