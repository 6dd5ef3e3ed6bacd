"""The browser client's files (`static/`), kept in memory and answered on the event loop.

A fresh page asks for its stylesheet and a dozen modules at once; answering each from
memory, without the thread hops of a file read, shortens its load. A file is read again
once edited (its size or time changed), so a reload shows a change without a restart.
Into `index.html` the server writes its default canvas: the page opens that canvas's
websocket while its stylesheet and modules load, instead of asking `/api/canvases` first.

    files = ClientFiles(STATIC, "default")
    Route("/{path:path}", files.get, methods=["GET"])
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

INDEX = "index.html"
MARK = '<meta name="boundless-canvas" content="">'
PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # no hidden files, no "..", no empty parts
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8"}


@dataclass(frozen=True)
class ClientFile:
    stamp: tuple[int, int]  # (mtime_ns, size) it was read at
    body: bytes
    etag: str
    media_type: str


class ClientFiles:
    def __init__(self, folder: Path, default: str) -> None:
        self.folder = folder.resolve()
        self.default = default
        self._files: dict[str, ClientFile] = {}

    async def get(self, request: Request) -> Response:
        file = self.file(request.path_params.get("path", ""))
        # no-cache: revalidated on every load, by ETag (a 304 costs no body).
        headers = {"ETag": file.etag, "Cache-Control": "no-cache"}
        if file.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(file.body, media_type=file.media_type, headers=headers)

    def file(self, path: str) -> ClientFile:
        """The file at `path` (the folder's index for ""), read again if it changed; 404 if
        there is none. Only names inside the folder can be asked for."""
        parts = [part for part in path.split("/") if part] or [INDEX]
        if path.endswith("/"):
            parts.append(INDEX)
        if not all(PART.fullmatch(part) for part in parts):
            raise HTTPException(404)
        name = "/".join(parts)
        try:
            stat = (self.folder / name).stat()
        except OSError:
            raise HTTPException(404) from None
        if not S_ISREG(stat.st_mode):
            raise HTTPException(404)
        stamp = (stat.st_mtime_ns, stat.st_size)
        file = self._files.get(name)
        if file is None or file.stamp != stamp:
            file = self._files[name] = self._read(name, stamp)
        return file

    def _read(self, name: str, stamp: tuple[int, int]) -> ClientFile:
        body = (self.folder / name).read_bytes()
        if name == INDEX:
            text = body.decode()
            if MARK not in text:
                raise RuntimeError(f"{self.folder / name} lacks {MARK}, where the server writes the default canvas")
            body = text.replace(MARK, f'<meta name="boundless-canvas" content="{html.escape(self.default)}">').encode()
        suffix = Path(name).suffix
        media_type = TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return ClientFile(stamp, body, f'"{hashlib.sha256(body).hexdigest()[:20]}"', media_type)
