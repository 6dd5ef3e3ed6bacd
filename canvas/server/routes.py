"""HTTP: what is cacheable or bulky. Canvases (list, create, rename, delete), tiles as WebP
or PNG with revision ETags, image upload, PNG export. Errors are `{"error": {code, message}}`.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import warnings
from typing import Any

import numpy as np
from PIL import Image
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from canvas.server import limits, models
from canvas.server.canvases import check_name
from canvas.server.errors import STORAGE_STATUS, ApiError, bad, too_large
from canvas.server.queue import Job, JobFinished
from canvas.server.state import ServerState
from canvas.server.tile_images import FADE, FORMATS
from canvas.store import Store
from canvas.video import MIME
from tiler.rect import Rect

MAX_JSON_BODY = 16 * 1024
# Image formats an upload may be: what browsers save and send. Not every format Pillow
# reads: EPS would run Ghostscript on the upload, and rarer decoders are more attack surface.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
MAX_TILE_LEVEL = 40
TILE = Store.TILE


def _state(request: Request) -> ServerState:
    return request.app.state.server


async def list_canvases(request: Request) -> JSONResponse:
    canvases = _state(request).canvases
    return JSONResponse({"default": canvases.default, "canvases": [canvases.describe(name) for name in canvases.names()]})


async def list_models(request: Request) -> JSONResponse:
    """The models library: `models` and `loras` as `welcome` lists them."""
    return JSONResponse(models.listing(_state(request).library))


async def rescan_models(request: Request) -> JSONResponse:
    """Scan the models folders again; every client is sent `models.changed`."""
    return JSONResponse(await models.rescan(_state(request)))


async def create_canvas(request: Request) -> JSONResponse:
    canvases = _state(request).canvases
    name = check_name((await _json(request)).get("name"))
    await asyncio.to_thread(canvases.create, name)
    return JSONResponse(canvases.describe(name), 201)


async def rename_canvas(request: Request) -> JSONResponse:
    state, old = _state(request), request.path_params["name"]
    new = check_name((await _json(request)).get("name"))
    state.check_idle(old)
    state.canvases.rename(old, new)
    for client in list(state.broadcaster.viewers(old)):
        client.end({"type": "canvas.renamed", "canvas": old, "name": new})
    return JSONResponse(state.canvases.describe(new))


async def delete_canvas(request: Request) -> Response:
    state, name = _state(request), request.path_params["name"]
    state.check_idle(name)
    identity = state.canvases.delete(name)
    if identity is not None:
        state.tile_images.forget(identity)
    for client in list(state.broadcaster.viewers(name)):
        client.end({"type": "canvas.deleted", "canvas": name})
    return Response(status_code=204)


async def tile(request: Request) -> Response:
    """A tile of view(level) as WebP or PNG; 204 where nothing is painted. ETag: the tile's revision."""
    store, name = _store(request)
    level = _int(request.path_params["level"], "level", 0, MAX_TILE_LEVEL)
    bound = limits.MAX_COORD // TILE
    tx = _int(request.path_params["tx"], "tx", -bound, bound)
    ty = _int(request.path_params["ty"], "ty", -bound, bound)
    fmt = request.path_params["fmt"]
    if fmt not in FORMATS:
        raise ApiError("not_found", f"tiles come as {' or '.join(FORMATS)}, not {fmt!r}", 404)
    # The canvas's identity joins the revision, so a canvas deleted and made again under
    # the same name never matches a cached tile of the old one.
    rev = await asyncio.to_thread(functools.partial(store.tile_revision, level, tx, ty, fade=FADE))
    if _etag(store, rev, fmt) in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=_tile_headers(request, store, rev, fmt))
    data: bytes | None = None
    if rev:
        rev, data = await asyncio.to_thread(_state(request).tile_images.get, store, level, tx, ty, fmt, rev)
    headers = _tile_headers(request, store, rev, fmt)  # rev again: a commit may have landed meanwhile
    if data is None:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=FORMATS[fmt][0], headers=headers)


def _etag(store: Store, rev: int, fmt: str) -> str:
    return f'"{store.identity}-{rev}-{fmt}"'


def _tile_headers(request: Request, store: Store, rev: int, fmt: str) -> dict[str, str]:
    """A URL naming the version it shows (`?v=<canvas_id>-<rev>`, from a `subscribe`
    answer) never changes: the browser keeps it without asking again. Any other is
    revalidated by its ETag on every use."""
    fixed = rev and request.query_params.get("v") == f"{store.identity}-{rev}"
    return {"ETag": _etag(store, rev, fmt), "Cache-Control": "private, max-age=31536000, immutable" if fixed else "no-cache"}


async def upload(request: Request) -> JSONResponse:
    """Place an image at (x, y) on level 0 as one revision, through the painter's queue."""
    state, (_, name) = _state(request), _store(request)
    x = _query_int(request, "x", 0)
    y = _query_int(request, "y", 0)
    data = await _body(request, limits.MAX_UPLOAD_BYTES)
    async with state.decoding:  # a decoded upload may take 128 MB: a few at a time
        image = await asyncio.to_thread(_decode, data)
    source = request.query_params.get("name", "")[:200]
    job = Job(id=state.queue.new_id(), canvas=name, client="http", kind="import", image=image, at=(x, y),
              source=source, request={"x": x, "y": y, "name": source})
    job.done = asyncio.get_running_loop().create_future()
    await state.queue.submit(job)
    finished: JobFinished = await job.done
    if finished.status != "done":
        status = STORAGE_STATUS.get(finished.code, 409)
        raise ApiError(finished.code or "cancelled", finished.reason or f"the upload was {finished.status}", status)
    h, w = image.shape[:2]
    return JSONResponse({"rev": finished.rev, "job": job.id, "x": x, "y": y, "w": w, "h": h}, 201)


async def export(request: Request) -> Response:
    """A rectangle (default: all the content) at a level as PNG with its `parameters` chunk."""
    store, name = _store(request)
    level = _query_int(request, "level", 0, 0, MAX_TILE_LEVEL)
    if "w" in request.query_params or "h" in request.query_params:
        rect = Rect(_query_int(request, "x", 0), _query_int(request, "y", 0),
                    _query_int(request, "w", None, 1, limits.MAX_COORD), _query_int(request, "h", None, 1, limits.MAX_COORD))
    else:
        rect = await asyncio.to_thread(store.bounds, level)
        if rect.empty:
            raise ApiError("empty", "nothing to export: the canvas is empty at that level", 404)
    if rect.area > limits.MAX_EXPORT_PIXELS:
        raise too_large(f"at most {limits.MAX_EXPORT_PIXELS} px per export ({rect.w}x{rect.h} asked); use a higher level")
    out = io.BytesIO()
    await asyncio.to_thread(store.export_png, level, rect, out)
    disposition = f'attachment; filename="{name}-{rect.x}_{rect.y}_{rect.w}x{rect.h}-L{level}.png"'
    return Response(out.getvalue(), media_type="image/png", headers={"Content-Disposition": disposition})


async def video(request: Request) -> Response:
    """A zoom video made for a client (`video` command), by the id its `video.done` gave."""
    _, name = _store(request)
    path = _state(request).videos.path(name, request.path_params["video"], request.path_params["fmt"])
    if path is None:
        raise ApiError("not_found", "no such video (they are kept for an hour)", 404)
    fmt = request.path_params["fmt"]
    return FileResponse(path, media_type=MIME[fmt], filename=f"{name}-zoom.{fmt}")


# -- helpers -----------------------------------------------------------------------------


def _store(request: Request) -> tuple[Store, str]:
    name = check_name(request.path_params["name"])
    return _state(request).canvases.store(name), name


def _int(text: str, key: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise bad(f"{key} must be a whole number, got {text[:40]!r}", "bad_field") from None
    if not low <= value <= high:
        raise bad(f"{key} must be between {low} and {high}, got {value}", "out_of_range")
    return value


def _query_int(request: Request, key: str, default: int | None, low: int = -limits.MAX_COORD, high: int = limits.MAX_COORD) -> int:
    text = request.query_params.get(key)
    if text is None:
        if default is None:
            raise bad(f"missing query parameter {key!r}", "missing_field")
        return default
    return _int(text, key, low, high)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it grows past `limit` (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"at most {limit} bytes, got {declared}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await _body(request, MAX_JSON_BODY))
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise bad("the body must be JSON", "bad_json") from None
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object", "bad_json")
    return body


def _decode(data: bytes) -> np.ndarray:
    """RGBA pixels of an uploaded image; dimensions are checked before any pixel is decoded."""
    if not data:
        raise bad("the upload is empty: send the image file as the request body", "bad_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
            w, h = image.size
            if w > limits.MAX_UPLOAD_SIDE or h > limits.MAX_UPLOAD_SIDE or w * h > limits.MAX_UPLOAD_PIXELS:
                raise too_large(f"images may be at most {limits.MAX_UPLOAD_SIDE} px a side and "
                                f"{limits.MAX_UPLOAD_PIXELS} px; this one is {w}x{h}")
            return np.asarray(image.convert("RGBA"))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise too_large(f"refused as an image bomb: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise bad(f"not an image this server can read: {exc}", "bad_image") from None
