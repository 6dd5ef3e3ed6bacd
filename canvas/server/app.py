"""The starlette application: routes, the websocket, the guard, and the painter worker's life.

    app = create_app(ServerConfig(data=Path("data")), load_painters(["patchmatch"]))
    uvicorn.run(app, host="127.0.0.1", port=8000, **UVICORN)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from canvas.jobs.pool import PainterPool
from canvas.painters import Painter
from canvas.server import limits, routes
from canvas.server.broadcast import ABORT
from canvas.server.client_files import ClientFiles
from canvas.server.errors import ApiError, storage
from canvas.server.security import Guard, RedactToken
from canvas.server.session import canvas_socket
from canvas.server.state import ServerConfig, ServerState
from canvas.store import StoreError

STATIC = Path(__file__).resolve().parents[2] / "static"
PLACEHOLDER = "<!doctype html><title>Boundless</title><p>The Boundless server is running; the browser client is not installed."
log = logging.getLogger(__name__)
# How uvicorn must run this app. No permessage-deflate: it would compress every frame on
# the event loop, and pushed tiles are 256 KB of raw RGBA each (a few ms of zlib apiece,
# times every viewer and tile of a commit: half-second stalls for everyone under load,
# bench/load.py), for little gain on photographs.
UVICORN = {"ws_max_size": limits.TRANSPORT_MAX, "ws_per_message_deflate": False}


def create_app(config: ServerConfig, painters: Mapping[str, Painter | PainterPool] | Painter, segmenter: Any = None,
               library: Any = None) -> Starlette:
    """`painters` by name, the first the default; one painter alone is served by its name.
    A painter is an object (painting one window at a time) or a pool of them
    (canvas.jobs.pool.open_pool: processes, Ray actors), which the server closes when it stops.
    `segmenter` (canvas.segment.load_segmenter) answers `segment` commands; None: refused.
    `library` (canvas.library.Library over `--models`): models and LoRAs jobs may name."""
    if not isinstance(painters, Mapping):
        painters = {painters.name: painters}
    state = ServerState(config, painters, segmenter, library)
    if config.token:
        _redact_logs()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.queue.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(state.close)

    app = Starlette(
        routes=_routes(state.canvases.default),
        middleware=[Middleware(AbortHandle), Middleware(Guard, token=config.token)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, sqlite3.Error: _storage_error,
                            OSError: _storage_error, StoreError: _storage_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.server = state
    return app


def _routes(default: str) -> list[BaseRoute]:
    canvas = "/api/canvases/{name}"
    found: list[BaseRoute] = [
        Route("/api/canvases", routes.list_canvases, methods=["GET"]),
        Route("/api/canvases", routes.create_canvas, methods=["POST"]),
        Route("/api/models", routes.list_models, methods=["GET"]),
        Route("/api/models/rescan", routes.rescan_models, methods=["POST"]),
        Route(canvas, routes.rename_canvas, methods=["PATCH"]),
        Route(canvas, routes.delete_canvas, methods=["DELETE"]),
        Route(canvas + "/tiles/{level}/{tx}/{ty}.{fmt}", routes.tile, methods=["GET"]),
        Route(canvas + "/upload", routes.upload, methods=["POST"]),
        Route(canvas + "/export.png", routes.export, methods=["GET"]),
        Route(canvas + "/videos/{video}.{fmt}", routes.video, methods=["GET"]),
        WebSocketRoute("/ws/{canvas}", canvas_socket),
    ]
    if (STATIC / "index.html").is_file():
        found.append(Route("/{path:path}", ClientFiles(STATIC, default).get, methods=["GET"]))
    else:
        found.append(Route("/", lambda request: HTMLResponse(PLACEHOLDER)))
    return found


class AbortHandle:
    """Puts in each websocket's scope (`ABORT`) a callable that cuts its connection at once.

    ASGI can only ask for a closing handshake, which a client that reads nothing never
    completes (uvicorn waits for its buffer to drain first, for ever). uvicorn hands the
    app its protocol's bound `send`; its transport can abort. Elsewhere: no handle."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None and hasattr(transport, "abort"):
                scope[ABORT] = transport.abort
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.payload(), exc.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, exc.status_code, headers=exc.headers)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """The disk refused (full, read-only, failing): a typed error, nothing half-written."""
    disk = storage(exc)
    if disk is not None:
        return JSONResponse(disk.payload(), disk.status)
    if isinstance(exc, StoreError):  # the canvas closed under the request (deleted meanwhile)
        return JSONResponse({"error": {"code": "busy", "message": str(exc)}}, 409)
    log.error("request failed", exc_info=exc)
    return await _internal_error(request, exc)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}}, 500)


def _redact_logs() -> None:
    """Keep `token=` out of uvicorn's request lines (the access log, websocket handshakes)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactToken) for f in logger.filters):
            logger.addFilter(RedactToken())
