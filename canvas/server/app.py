"""The starlette application: routes, the websocket, the guard, and the painter worker's life.

    app = create_app(ServerConfig(data=Path("data")), load_painters(["patchmatch"]))
    uvicorn.run(app, host="127.0.0.1", port=8000, ws_max_size=limits.TRANSPORT_MAX)
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from canvas.painters import Painter
from canvas.server import routes
from canvas.server.errors import ApiError
from canvas.server.security import Guard
from canvas.server.session import canvas_socket
from canvas.server.state import ServerConfig, ServerState

STATIC = Path(__file__).resolve().parents[2] / "static"
PLACEHOLDER = "<!doctype html><title>Boundless</title><p>The Boundless server is running; the browser client is not installed."


def create_app(config: ServerConfig, painters: Mapping[str, Painter] | Painter) -> Starlette:
    """`painters` by name, the first the default; one painter alone is served by its name."""
    if not isinstance(painters, Mapping):
        painters = {painters.name: painters}
    state = ServerState(config, painters)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.queue.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(state.close)

    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(Guard, token=config.token)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.server = state
    return app


def _routes() -> list[BaseRoute]:
    canvas = "/api/canvases/{name}"
    found: list[BaseRoute] = [
        Route("/api/canvases", routes.list_canvases, methods=["GET"]),
        Route("/api/canvases", routes.create_canvas, methods=["POST"]),
        Route(canvas, routes.rename_canvas, methods=["PATCH"]),
        Route(canvas, routes.delete_canvas, methods=["DELETE"]),
        Route(canvas + "/tiles/{level}/{tx}/{ty}.{fmt}", routes.tile, methods=["GET"]),
        Route(canvas + "/upload", routes.upload, methods=["POST"]),
        Route(canvas + "/export.png", routes.export, methods=["GET"]),
        WebSocketRoute("/ws/{canvas}", canvas_socket),
    ]
    if (STATIC / "index.html").is_file():
        found.append(Mount("/", StaticFiles(directory=STATIC, html=True)))
    else:
        found.append(Route("/", lambda request: HTMLResponse(PLACEHOLDER)))
    return found


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.payload(), exc.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, exc.status_code, headers=exc.headers)
