"""Every client on a canvas sees every change: job events become messages for all of them.

Each client has an outbox drained by its own task, so a slow client never holds up the
others or the painter. Events from the worker thread arrive here on the event loop;
reading tiles for a push goes to a thread, never the loop.

    broadcaster.join(client)
    broadcaster.send("default", {"type": "history.changed", ...})
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Awaitable, Callable

from starlette.websockets import WebSocket

from canvas.jobs import JobPlanned, ModelLoading, WindowCommitted, WindowProgress
from canvas.server.canvases import Canvases
from canvas.server.messages import box, history
from canvas.server.protocol import Viewport, encode_binary, tiles_frame
from canvas.server.queue import CandidatesStaged, Job, JobFinished, JobQueued
from canvas.server.tile_images import FADE
from canvas.store import Store
from tiler.rect import Rect

log = logging.getLogger(__name__)
MAX_OUTBOX = 512  # messages waiting for one client before it counts as stuck and is dropped
MAX_OUTBOX_BYTES = 64 * 1024 * 1024  # bytes of binary frames (tiles, candidates) waiting, likewise
CLOSE_TIMEOUT = 5.0  # s a dropped client's closing handshake may take before the connection is cut
MAX_PUSH_TILES = 64  # tiles pushed to one client for one change; more and it refetches
TILE = Store.TILE
TileKey = tuple[int, int, int]  # level, tx, ty
EMPTY = bytes(TILE * TILE * 4)  # an erased tile: transparent
ABORT = "boundless.abort"  # in a websocket's scope: cuts its connection (see app.AbortHandle)
END: dict[str, Any] = {"type": "end"}  # marks the end of an outbox: the pump closes the socket
DROPPED: dict[str, Any] = {"type": "dropped"}  # the client was too slow: the pump stops


class Client:
    """One websocket: its canvas, its viewport, and the queue of what it is sent."""

    def __init__(self, client_id: str, canvas: str, websocket: WebSocket) -> None:
        self.id = client_id
        self.canvas = canvas
        self.websocket = websocket
        self.viewport: Viewport | None = None
        self.outbox: asyncio.Queue[dict[str, Any] | bytes] = asyncio.Queue(MAX_OUTBOX)
        self.outbox_bytes = 0
        self.stuck = False
        self._closing: asyncio.Future | None = None

    def send(self, message: dict[str, Any] | bytes) -> None:
        if self.stuck:
            return
        size = len(message) if isinstance(message, bytes) else 0
        if self.outbox.full() or self.outbox_bytes + size > MAX_OUTBOX_BYTES:
            self._drop()
            return
        self.outbox.put_nowait(message)
        self.outbox_bytes += size

    def _drop(self) -> None:
        """Too slow (or not reading at all): free what waits for it and close the socket
        with 1013; the client reconnects and refetches. A client that reads nothing would
        never take the close frame either: after CLOSE_TIMEOUT the connection is cut."""
        self.stuck = True
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.outbox_bytes = 0
        self.outbox.put_nowait(DROPPED)
        self._closing = asyncio.ensure_future(self._close(1013, "too slow: messages piled up"))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            _abort(self.websocket)
        except Exception:  # noqa: BLE001 - already closed, or closing under us
            pass

    def end(self, message: dict[str, Any]) -> None:
        """Send `message`, then close the socket (the canvas was renamed or deleted)."""
        self.send(message)
        self.send(END)

    async def pump(self) -> None:
        try:
            while True:
                message = await self.outbox.get()
                if message is DROPPED:
                    return
                if message is END:
                    await self.websocket.close(1000, "canvas gone")
                    return
                if isinstance(message, bytes):
                    self.outbox_bytes -= len(message)
                    await self.websocket.send_bytes(message)
                else:
                    await self.websocket.send_text(json.dumps(message, separators=(",", ":")))
        except Exception:  # noqa: BLE001 - the socket closed under a send: the session ends it
            return


def _abort(websocket: WebSocket) -> None:
    """Cut the connection at once, through the handle app.AbortHandle put in the scope
    (where there is none, the connection ends when the peer goes, holding one frame)."""
    abort = websocket.scope.get(ABORT)
    if abort is not None:
        log.warning("dropping a websocket client that reads nothing")
        abort()


class Broadcaster:
    def __init__(self, canvases: Canvases) -> None:
        self.canvases = canvases
        self.clients: dict[str, set[Client]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._last: dict[str, asyncio.Task] = {}  # per canvas: the step the next one waits for

    def join(self, client: Client) -> None:
        self.clients.setdefault(client.canvas, set()).add(client)

    def leave(self, client: Client) -> None:
        viewers = self.clients.get(client.canvas, set())
        viewers.discard(client)
        if not viewers:
            self.clients.pop(client.canvas, None)

    def viewers(self, canvas: str) -> set[Client]:
        return self.clients.get(canvas, set())

    def send(self, canvas: str, message: dict[str, Any] | bytes) -> None:
        for client in list(self.viewers(canvas)):
            client.send(message)

    def later(self, canvas: str, step: Callable[[], Awaitable[None] | None]) -> None:
        """Run `step` once everything queued before it for `canvas` has run.

        Some steps read tiles or history in a thread; without this, a `job.done` could
        overtake the tiles of the job's last window. Viewers get a canvas's messages in
        the order things happened.
        """
        previous = self._last.get(canvas)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])  # its failure is logged by _done, not ours
            result = step()
            if inspect.isawaitable(result):
                await result

        task = asyncio.ensure_future(run())
        self._last[canvas] = task
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        for canvas, last in list(self._last.items()):
            if last is task:
                del self._last[canvas]
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # -- job events (on the loop) ----------------------------------------------------------

    def job_event(self, job: Job, event: Any) -> None:
        self.later(job.canvas, lambda: self._job_event(job, event))

    def _job_event(self, job: Job, event: Any) -> Awaitable[None] | None:
        canvas, head = job.canvas, {"job": job.id}
        if isinstance(event, JobQueued):
            self.send(canvas, {"type": "job.queued", **head, "kind": job.kind, "client": job.client, "position": event.position})
        elif isinstance(event, JobPlanned):
            windows = [box(rect) for rect in event.windows]
            self.send(canvas, {"type": "job.started", **head, "rev": event.rev, "level": event.level, "windows": windows,
                               "stage": event.stage, "stages": event.stages})
        elif isinstance(event, WindowProgress):
            self._progress(job, event)
        elif isinstance(event, WindowCommitted):
            self.send(canvas, {"type": "window.committed", **head, "window": event.window, "windows": event.windows,
                               "rect": box(event.rect), "level": event.level, "rev": event.rev})
            return self.refresh(canvas, event.rect.to_level(event.level, 0), event.rev)
        elif isinstance(event, ModelLoading):
            self.send(canvas, {"type": "job.loading", **head, "model": event.model, "loaded": event.loaded})
        elif isinstance(event, CandidatesStaged):
            self._candidates(job, event)
        elif isinstance(event, JobFinished):
            return self._finished(job, event)
        return None

    def _progress(self, job: Job, event: WindowProgress) -> None:
        self.send(job.canvas, {"type": "job.progress", "job": job.id, "window": event.window, "windows": event.windows,
                               "step": event.step, "steps": event.steps, "rect": box(event.rect)})
        if event.preview is not None:
            h, w = event.preview.shape[:2]
            header = {"type": "preview", "job": job.id, "window": event.window, "w": w, "h": h, "format": "rgb"}
            self.send(job.canvas, encode_binary(header, event.preview[..., :3].astype("uint8").tobytes()))

    def _candidates(self, job: Job, event: CandidatesStaged) -> None:
        self.send(job.canvas, {"type": "candidates", "job": job.id, "window": event.window, "count": len(event.candidates),
                               "rect": box(event.rect), "level": event.level})
        for index, rgba in enumerate(event.candidates):
            header = {"type": "candidate", "job": job.id, "window": event.window, "index": index, **box(event.rect),
                      "level": event.level, "format": "rgba"}
            self.send(job.canvas, encode_binary(header, rgba.tobytes()))

    def _finished(self, job: Job, event: JobFinished) -> Awaitable[None] | None:
        if event.status == "failed":
            message = {"type": "job.failed", "job": job.id, "code": event.code, "reason": event.reason, "rev": event.rev}
        else:
            message = {"type": "job.done", "job": job.id, "status": event.status, "rev": event.rev,
                       "windows": event.windows, "seconds": round(event.seconds, 3)}
        self.send(job.canvas, message)
        if job.done is not None and not job.done.done():
            job.done.set_result(event)
        if event.taken_back is not None:  # a coarse-to-fine job cancelled: its tiles are gone again
            return self._taken_back(job.canvas, event.taken_back)
        return self.history_changed(job.canvas) if event.rev else None

    async def _taken_back(self, canvas: str, area: Rect) -> None:
        await self.history_changed(canvas)
        await self.refresh(canvas, area, self.canvases.store(canvas).head)

    # -- pixels and history ----------------------------------------------------------------

    async def history_changed(self, canvas: str) -> None:
        store = self.canvases.store(canvas)
        self.send(canvas, await asyncio.to_thread(history, store))

    async def refresh(self, canvas: str, area: Rect, rev: int) -> None:
        """Tell every viewer that tiles over `area` (level 0) changed; push the ones it sees,
        all in one `tiles` frame (one message to take in and one draw, not one a tile)."""
        store = self.canvases.store(canvas)
        clients = list(self.viewers(canvas))
        viewports = {client: client.viewport for client in clients}
        wanted, pixels, bounds, fade = await asyncio.to_thread(_read_pushes, store, area, viewports)
        for client in clients:
            tiles = wanted[client]
            client.send({"type": "tiles.invalidated", "rect": box(area), "level": 0, "rev": rev, "pushed": len(tiles),
                         "bounds": box(bounds), "fade": fade})
            if tiles:
                level = tiles[0][0]
                client.send(tiles_frame({"type": "tiles", "level": level}, [(tx, ty, *pixels[level, tx, ty]) for _, tx, ty in tiles]))


def _visible_tiles(viewport: Viewport | None, area: Rect, fade: int = 0) -> list[TileKey]:
    if viewport is None:
        return []
    seen = area.to_level(0, viewport.level).grow(fade).intersect(viewport.rect)
    tiles = [(viewport.level, tx, ty) for tx, ty in seen.tiles(TILE)] if not seen.empty else []
    return tiles if len(tiles) <= MAX_PUSH_TILES else []


def _read_pushes(
    store: Store, area: Rect, viewports: dict[Client, Viewport | None]
) -> tuple[dict[Client, list[TileKey]], dict[TileKey, tuple[int, bytes]], Rect, int]:
    """For a change over `area` (level 0): the tiles each client sees and is pushed, their
    revisions and pixels, the known area's bounds after the change, and how far the change
    reaches into the fade of neighbouring tiles (px at their level; see `tiles.invalidated`)."""
    # Only where content authored at coarser levels lies under finer content is there a fade.
    fade = FADE if max(store.authored_bounds(), default=0) > 0 else 0
    wanted = {client: _visible_tiles(viewport, area, fade) for client, viewport in viewports.items()}
    pixels = _read_tiles(store, {key for tiles in wanted.values() for key in tiles})
    return wanted, pixels, store.bounds(0), fade


def _read_tiles(store: Store, keys: set[TileKey]) -> dict[TileKey, tuple[int, bytes]]:
    """(revision, raw RGBA) of each tile to push; an erased tile is pushed transparent."""
    pixels = {}
    for level, tx, ty in keys:
        rev, rgba = store.read_tile(level, tx, ty, fade=FADE)
        pixels[level, tx, ty] = (rev, EMPTY if rgba is None else rgba.tobytes())
    return pixels
