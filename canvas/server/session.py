"""One websocket per client per canvas, at `/ws/{canvas}`: welcome, then commands in,
events out. A bad message gets an `error` and the connection lives on.

A client sending more than `COMMANDS_PER_SECOND` commands a second (after a burst of
`COMMAND_BURST`) is slowed down, not refused: its next command is read only when its turn
comes, so one flooding client cannot take the event loop from the others.

When a client leaves, its queued and running jobs carry on (anyone on the canvas sees
them and may cancel them). Candidates waiting for a pick stay waiting while anyone is
still on the canvas; when the last viewer leaves they are discarded, so the painter is
never held by an empty room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from canvas.server import limits, models, protocol
from canvas.server.broadcast import Client
from canvas.server.canvases import check_name
from canvas.server.commands import HANDLERS, PAYLOAD
from canvas.server.errors import ApiError, storage
from canvas.server.messages import box, error
from canvas.server.state import ServerState

log = logging.getLogger(__name__)
CLOSE_NO_CANVAS = 4404
CLOSE_UNAVAILABLE = 1011  # the canvas exists but its file cannot be opened (disk_full, read_only, io_error)


async def canvas_socket(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.server
    name = websocket.path_params["canvas"]
    await websocket.accept()
    try:
        store = await asyncio.to_thread(state.canvases.store, check_name(name))
    except Exception as exc:  # noqa: BLE001 - no such canvas, or a disk that cannot open it
        refused = exc if isinstance(exc, ApiError) else storage(exc)
        if refused is None:
            raise
        await websocket.send_json(error(refused.code, refused.message))
        await websocket.close(CLOSE_NO_CANVAS if refused.code == "not_found" else CLOSE_UNAVAILABLE, refused.code)
        return
    client = Client(state.new_client_id(), name, websocket)
    state.broadcaster.join(client)
    pump = asyncio.create_task(client.pump())
    pace = Pace(limits.COMMANDS_PER_SECOND, limits.COMMAND_BURST)
    try:
        client.send(await asyncio.to_thread(_welcome, state, client, store))
        while not client.stuck:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            await _handle(state, client, frame)
            await asyncio.sleep(pace.wait())
    except WebSocketDisconnect:
        pass
    finally:
        state.broadcaster.leave(client)
        state.videos.cancel_for(client)  # nobody is left to download it
        pump.cancel()
        if not state.broadcaster.viewers(name):
            for job in state.queue.jobs(name):
                if job.staged is not None:
                    job.staged.answer(None)


class Pace:
    """A token bucket: `rate` commands a second, `burst` at once; `wait()` says how long
    to wait before reading the next one (0 within the rate)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.last = time.monotonic()

    def wait(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate) - 1
        self.last = now
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


async def _handle(state: ServerState, client: Client, frame: dict[str, Any]) -> None:
    request_id = None
    try:
        if frame.get("bytes") is not None:
            message, payload = protocol.parse_binary(frame["bytes"])
        else:
            message, payload = protocol.parse_text(frame.get("text") or ""), None
        request_id = message.get("id")
        answer = await HANDLERS[message["type"]](state, client, message, payload)
        reply = {"type": "ok", "id": request_id, "command": message["type"], **answer}
        data = reply.pop(PAYLOAD, None)
        client.send(reply if data is None else protocol.encode_binary(reply, data))
    except ApiError as exc:
        client.send(error(exc.code, exc.message, request_id))
    except Exception as exc:  # noqa: BLE001 - one bad command must not end the connection
        disk = storage(exc)
        if disk is not None:
            client.send(error(disk.code, disk.message, request_id))
            return
        log.exception("command failed")
        client.send(error("internal", f"{type(exc).__name__}: {exc}", request_id))


def _welcome(state: ServerState, client: Client, store: Any) -> dict[str, Any]:
    jobs = [{"job": job.id, "kind": job.kind, "client": job.client, "state": job.state} for job in state.queue.jobs(client.canvas)]
    return {
        "type": "welcome", "version": protocol.VERSION, "client": client.id, "canvas": client.canvas,
        "head": store.head, "bounds": box(store.bounds(0)), "top_level": store.top_level, "tile": store.TILE,
        "painters": list(state.painters), "painter_options": state.painter_options(), "painter_info": state.painter_info(),
        "painter_windows": state.windows, "painter_pools": {name: pool.size for name, pool in state.queue.pools.items()},
        "limits": limits.as_dict(), "jobs": jobs, "segmenter": state.segmenter is not None,
        "interrupted": [record.as_dict() for record in store.interrupted_jobs()],
        **models.listing(state.library),  # `models` and `loras`: what jobs may name
        "families": models.families() if state.library is not None else {},  # what naming a model changes
    }
