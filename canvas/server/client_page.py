"""The client's page, `static/index.html`, with the server's default canvas written into
it: the page opens that canvas's websocket while its stylesheet and modules load, instead
of asking `/api/canvases` for the name first (index.html's first script).

    page = ClientPage(STATIC / "index.html", "default")
    Route("/", page.get)
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

MARK = '<meta name="boundless-canvas" content="">'


class ClientPage:
    def __init__(self, path: Path, default: str) -> None:
        self.path = path
        self.default = default
        self._read: tuple[tuple[int, int], bytes, str] | None = None  # (mtime, size), body, etag

    async def get(self, request: Request) -> Response:
        body, etag = self._body()
        # no-cache: revalidated on every load (another server run may name another default).
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return HTMLResponse(body, headers=headers)

    def _body(self) -> tuple[bytes, str]:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._read is None or self._read[0] != stamp:  # read again once edited: a reload shows it
            text = self.path.read_text(encoding="utf-8")
            if MARK not in text:
                raise RuntimeError(f"{self.path} lacks {MARK}, where the server writes the default canvas")
            body = text.replace(MARK, f'<meta name="boundless-canvas" content="{html.escape(self.default)}">').encode()
            self._read = (stamp, body, f'"{hashlib.sha256(body).hexdigest()[:20]}"')
        return self._read[1], self._read[2]
