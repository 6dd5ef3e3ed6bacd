"""What each websocket command does. Every command is answered once, to its sender: `ok`
(with what it produced) or `error`, both carrying the command's `id`. What changes the
canvas is also broadcast to every viewer (see broadcast.py).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from canvas.server import protocol
from canvas.server.broadcast import Client
from canvas.server.errors import ApiError, bad, conflict
from canvas.server.messages import box, history as history_message
from canvas.server.queue import Job
from canvas.server.state import ServerState
from canvas.store import StoreError

Handler = Callable[[ServerState, Client, dict[str, Any], "bytes | None"], Awaitable[dict[str, Any]]]


async def subscribe(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    viewport = client.viewport = protocol.viewport(message)
    store = state.canvases.store(client.canvas)
    tiles = await asyncio.to_thread(store.painted_tiles, viewport.level, viewport.rect)
    return {"level": viewport.level, "rect": box(viewport.rect), "canvas_id": store.identity,
            "tiles": [list(tile) for tile in tiles]}


async def outpaint(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return _submit(state, client, message, "outpaint", protocol.frame_target(message))


async def expand(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return _submit(state, client, message, "expand", protocol.expand_target(message))


async def inpaint(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    if payload is None:
        raise bad("inpaint comes as a binary frame: its header, then the mask (w*h bytes, nonzero = repaint)", "bad_mask")
    return _submit(state, client, message, "inpaint", protocol.inpaint_target(message, payload))


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


async def ping(state: ServerState, client: Client, message: dict[str, Any], payload: bytes | None) -> dict[str, Any]:
    return {}


HANDLERS: dict[str, Handler] = {
    "subscribe": subscribe, "outpaint": outpaint, "expand": expand, "inpaint": inpaint, "cancel": cancel,
    "accept": accept, "discard": discard, "undo": undo, "redo": redo, "history": history, "ping": ping,
}


def _submit(state: ServerState, client: Client, message: dict[str, Any], kind: str, target: Any) -> dict[str, Any]:
    spec, auto, painter = protocol.job_spec(message, target, state.options)
    job = Job(id=state.queue.new_id(), canvas=client.canvas, client=client.id, kind=kind, spec=spec,
              painter=painter, auto_accept=auto)
    state.queue.submit(job)
    return {"job": job.id}


async def _move_head(state: ServerState, client: Client, which: str) -> dict[str, Any]:
    running = state.queue.running
    if running is not None and running.canvas == client.canvas:
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
