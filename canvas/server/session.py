"""One websocket per client per canvas, at `/ws/{canvas}`: welcome, then commands in,
events out. A bad message gets an `error` and the connection lives on.

When a client leaves, its queued and running jobs carry on (anyone on the canvas sees
them and may cancel them). Candidates waiting for a pick stay waiting while anyone is
still on the canvas; when the last viewer leaves they are discarded, so the painter is
never held by an empty room.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from canvas.server import limits, protocol
from canvas.server.broadcast import Client
from canvas.server.canvases import check_name
from canvas.server.commands import HANDLERS
from canvas.server.errors import ApiError
from canvas.server.messages import box, error
from canvas.server.state import ServerState

log = logging.getLogger(__name__)
CLOSE_NO_CANVAS = 4404


async def canvas_socket(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.server
    name = websocket.path_params["canvas"]
    await websocket.accept()
    try:
        store = state.canvases.store(check_name(name))
    except ApiError as exc:
        await websocket.send_json(error(exc.code, exc.message))
        await websocket.close(CLOSE_NO_CANVAS, exc.code)
        return
    client = Client(state.new_client_id(), name, websocket)
    state.broadcaster.join(client)
    pump = asyncio.create_task(client.pump())
    try:
        client.send(await asyncio.to_thread(_welcome, state, client, store))
        while not client.stuck:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            await _handle(state, client, frame)
    except WebSocketDisconnect:
        pass
    finally:
        state.broadcaster.leave(client)
        pump.cancel()
        if not state.broadcaster.viewers(name):
            for job in state.queue.jobs(name):
                if job.staged is not None:
                    job.staged.answer(None)


async def _handle(state: ServerState, client: Client, frame: dict[str, Any]) -> None:
    request_id = None
    try:
        if frame.get("bytes") is not None:
            message, payload = protocol.parse_binary(frame["bytes"])
        else:
            message, payload = protocol.parse_text(frame.get("text") or ""), None
        request_id = message.get("id")
        answer = await HANDLERS[message["type"]](state, client, message, payload)
        client.send({"type": "ok", "id": request_id, "command": message["type"], **answer})
    except ApiError as exc:
        client.send(error(exc.code, exc.message, request_id))
    except Exception as exc:  # noqa: BLE001 - one bad command must not end the connection
        log.exception("command failed")
        client.send(error("internal", f"{type(exc).__name__}: {exc}", request_id))


def _welcome(state: ServerState, client: Client, store: Any) -> dict[str, Any]:
    jobs = [{"job": job.id, "kind": job.kind, "client": job.client, "state": job.state} for job in state.queue.jobs(client.canvas)]
    return {
        "type": "welcome", "version": protocol.VERSION, "client": client.id, "canvas": client.canvas,
        "head": store.head, "bounds": box(store.bounds(0)), "top_level": store.top_level, "tile": store.TILE,
        "painters": list(state.painters), "painter_options": state.painter_options(),
        "limits": limits.as_dict(), "jobs": jobs,
    }
