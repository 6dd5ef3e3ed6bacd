"""What each websocket command does. Every command is answered once, to its sender: `ok`
(with what it produced) or `error`, both carrying the command's `id`. What changes the
canvas is also broadcast to every viewer (see broadcast.py).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from canvas.server import growth, models, protocol
from canvas.server.broadcast import Client
from canvas.server.errors import ApiError, bad, conflict
from canvas.server.messages import box, history as history_message
from canvas.server.queue import Job
from canvas.server.state import ServerState
from canvas.server.tile_images import FADE
from canvas.server.videos import settings_of
from canvas.store import StoreError

# The fields of a job command kept with its record (checked; anything else is ignored).
REQUEST_FIELDS = ("x", "y", "w", "h", "level", "left", "right", "up", "down", "params",
                  "steps", "factor", "schedule", "preset", "width", "height", "aspect", "anchor", "prompts")

PAYLOAD = "payload"  # an answer holding this (bytes, or a list of pieces) is sent as a binary frame: the rest is its header
Handler = Callable[[ServerState, Client, dict[str, Any], "bytes | None"], Awaitable[dict[str, Any]]]


async def subscribe(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    viewport = client.viewport = protocol.viewport(message)
    send = protocol.tiles_to_send(message, viewport)
    store = state.canvases.store(client.canvas)

    def read() -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int, bytes]]]:
        tiles = store.painted_tiles(viewport.level, viewport.rect, fade=FADE)
        revs = {(tx, ty): rev for tx, ty, rev in tiles}
        sent = []
        for tx, ty in send:
            if revs.get((tx, ty)):
                rev, rgba = state.tile_images.get(store, viewport.level, tx, ty, "rgba", revs[tx, ty])
                if rgba is not None:  # erased since the listing: the change's own event follows
                    sent.append((tx, ty, rev, rgba))
        return tiles, sent

    tiles, sent = await asyncio.to_thread(read)
    answer = {"level": viewport.level, "rect": box(viewport.rect), "canvas_id": store.identity,
              "tiles": [list(tile) for tile in tiles]}
    if sent:  # the answer becomes one binary frame carrying their pixels (see protocol.tiles_frame)
        header, pixels = protocol.tiles_payload(sent, listed_as="sent")
        answer.update(header, **{PAYLOAD: pixels})
    return answer


async def outpaint(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return await _submit(state, client, message, "outpaint", protocol.frame_target(message))


async def expand(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return await _submit(state, client, message, "expand", protocol.expand_target(message))


async def inpaint(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    if payload is None:
        raise bad("inpaint comes as a binary frame: its header, then the mask (w*h bytes, nonzero = repaint)", "bad_mask")
    return await _submit(state, client, message, "inpaint", protocol.inpaint_target(message, payload))


async def zoomout(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return await _submit_stages(state, client, message, growth.zoomout)


async def grow(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return await _submit_stages(state, client, message, growth.grow)


async def video(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    settings = settings_of(message)
    fmt = protocol.text(message, "format", 8, "mp4")
    store = state.canvases.store(client.canvas)
    return {"video": state.videos.start(client, store, settings, fmt), "frames": settings.frames}


async def cancel(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    job = state.queue.find(message.get("job"), client.canvas)
    state.queue.cancel(job)
    return {"job": job.id}


async def accept(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    job = state.queue.find(message.get("job"), client.canvas)
    candidate = protocol.integer(message, "candidate", 0, 3)
    state.queue.pick(job, candidate)
    return {"job": job.id, "candidate": candidate}


async def discard(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    job = state.queue.find(message.get("job"), client.canvas)
    state.queue.pick(job, None)
    return {"job": job.id}


async def undo(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return await _move_head(state, client, "undo")


async def redo(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return await _move_head(state, client, "redo")


async def history(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    store = state.canvases.store(client.canvas)
    found = await asyncio.to_thread(history_message, store)
    return {"head": found["head"], "revisions": found["revisions"]}


async def segment(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    """The segment under the clicks (or in the box), as the region's mask: answered as a
    binary frame, its payload w*h bytes (255 = in the segment), like an inpaint mask."""
    if state.segmenter is None:
        raise conflict("no_segmenter", "this server has no segmenter: start it with --segmenter MODEL")
    asked = protocol.segment_request(message)
    store = state.canvases.store(client.canvas)

    def run() -> tuple[bytes, float]:
        # The key names the region and what it shows now (its tiles' revisions), so a
        # commit under it, or undo, computes a fresh embedding; further clicks reuse it.
        tiles = tuple(store.painted_tiles(asked.level, asked.rect))
        key = (store.identity, asked.level, asked.rect, tiles)
        mask, score = state.segmenter.segment(key, lambda: store.read(asked.level, asked.rect), asked.prompt)
        return (mask.astype("uint8") * 255).tobytes(), score

    mask, score = await asyncio.to_thread(run)
    return {"level": asked.level, **box(asked.rect), "score": round(score, 4), "format": "mask", PAYLOAD: mask}


async def rescan(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    """Scan the models folders again; every client on every canvas gets `models.changed`."""
    found = await models.rescan(state)
    return {"models": len(found["models"]), "loras": len(found["loras"])}


async def ping(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return {}


HANDLERS: dict[str, Handler] = {
    "subscribe": subscribe, "outpaint": outpaint, "expand": expand, "inpaint": inpaint, "zoomout": zoomout,
    "grow": grow, "video": video, "cancel": cancel,
    "accept": accept, "discard": discard, "undo": undo, "redo": redo, "history": history, "ping": ping,
    "segment": segment, "rescan": rescan,
}


async def _submit(state: ServerState, client: Client, message: dict[str, Any], kind: str, target: Any) -> dict[str, Any]:
    spec, auto, painter = protocol.job_spec(message, target, state.options, models.windows_for(state, message),
                                            models.defaults_for(state, message))
    models.check_job(state, painter, spec.request)
    # What was asked, as sent (an inpaint's mask aside): an interrupted job is reported with it.
    request = {key: value for key, value in message.items() if key in REQUEST_FIELDS}
    job = Job(id=state.queue.new_id(), canvas=client.canvas, client=client.id, kind=kind, spec=spec,
              painter=painter, auto_accept=auto, request=request)
    await state.queue.submit(job)
    return {"job": job.id}


async def _submit_stages(state: ServerState, client: Client, message: dict[str, Any], parse: Any) -> dict[str, Any]:
    """A job of several stages (zoomout, grow): checked now, its specs made when it runs."""
    request, tiler, auto, painter = protocol.job_settings(message, state.options, models.windows_for(state, message),
                                                          models.defaults_for(state, message))
    stages = parse(message, request, tiler)
    models.check_job(state, painter, request, stages.prompts)  # every stage's prompt, before anything is queued
    fields = {key: value for key, value in message.items() if key in REQUEST_FIELDS}
    job = Job(id=state.queue.new_id(), canvas=client.canvas, client=client.id, kind=stages.kind, stages=stages,
              painter=painter, auto_accept=auto, request=fields)
    await state.queue.submit(job)
    return {"job": job.id}


async def _move_head(state: ServerState, client: Client, which: str) -> dict[str, Any]:
    running = state.queue.running_on(client.canvas)
    if running is not None:
        raise conflict("job_running", f"job {running.id} is painting this canvas; {which} when it is done (or cancel it)")
    store = state.canvases.store(client.canvas)

    def move() -> tuple[Any, Any]:
        before = store.bounds(0)
        try:
            moved = store.undo() if which == "undo" else store.redo()
        except StoreError as exc:
            raise ApiError("job_running", str(exc), 409) from None
        return moved, before.union(store.bounds(0))

    revision, area = await asyncio.to_thread(move)
    if revision is None:
        return {"rev": None, "head": store.head}
    state.broadcaster.later(client.canvas, lambda: state.broadcaster.history_changed(client.canvas))
    if not area.empty:
        head = store.head
        state.broadcaster.later(client.canvas, lambda: state.broadcaster.refresh(client.canvas, area, head))
    return {"rev": revision.id, "head": store.head}
