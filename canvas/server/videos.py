"""Zoom videos made for clients: rendered in a thread (never on the event loop, never in
the painter's worker), progress sent to the client that asked, the file served once by an
unguessable id, and removed after an hour.

One video at a time: rendering takes every core, and a second would only halve both.

    video = videos.start(client, store, VideoSettings(...), "mp4")   # -> "3f9c..."; events follow
    GET /api/canvases/{canvas}/videos/3f9c....mp4
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any

from canvas.painters import CancelToken, Cancelled
from canvas.server.broadcast import Client
from canvas.server.errors import ApiError, conflict
from canvas.server.limits import PROGRESS_INTERVAL
from canvas.server.protocol import integer, number, text
from canvas.store import Store
from canvas.video import FORMATS, VideoError, VideoSettings, render_video

log = logging.getLogger(__name__)
KEEP_SECONDS = 3600
ID = re.compile(r"[0-9a-f]{32}")


class Videos:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: tuple[str, CancelToken, Client] | None = None
        self._tasks: set[asyncio.Task] = set()

    def start(self, client: Client, store: Store, settings: VideoSettings, fmt: str) -> str:
        if fmt not in FORMATS:
            raise ApiError("bad_field", f"format must be one of {', '.join(FORMATS)}, got {fmt[:20]!r}")
        if self.running is not None:
            raise conflict("busy", "a zoom video is being made already; try again when it is done")
        self._sweep()
        video, cancel = secrets.token_hex(16), CancelToken()
        self.running = (video, cancel, client)
        task = asyncio.get_running_loop().create_task(self._make(video, client, store, settings, fmt, cancel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return video

    def cancel_for(self, client: Client) -> None:
        """The client left: nobody will download its video."""
        if self.running is not None and self.running[2] is client:
            self.running[1].cancel()

    def path(self, canvas: str, video: str, fmt: str) -> Path | None:
        if not ID.fullmatch(video) or fmt not in FORMATS:
            return None
        path = self.folder / f"{canvas}-{video}.{fmt}"
        return path if path.is_file() else None

    def close(self) -> None:
        if self.running is not None:
            self.running[1].cancel()
        for path in self.folder.glob("*-*.*") if self.folder.is_dir() else ():
            path.unlink(missing_ok=True)

    async def _make(self, video: str, client: Client, store: Store, settings: VideoSettings, fmt: str, cancel: CancelToken) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0

        def progress(frame: int, frames: int) -> None:  # in the render thread
            nonlocal last
            now = time.monotonic()
            if frame == frames or now - last >= PROGRESS_INTERVAL:
                last = now
                loop.call_soon_threadsafe(client.send, {"type": "video.progress", "video": video, "frame": frame, "frames": frames})

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{client.canvas}-{video}.{fmt}"
        try:
            stats = await asyncio.to_thread(render_video, store, path, settings, progress, cancel)
        except Cancelled:
            client.send({"type": "video.failed", "video": video, "code": "cancelled", "reason": "the video was cancelled"})
        except VideoError as exc:
            client.send({"type": "video.failed", "video": video, "code": "bad_params", "reason": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a failed video must not take the server down
            log.exception("zoom video failed")
            client.send({"type": "video.failed", "video": video, "code": "internal", "reason": f"{type(exc).__name__}: {exc}"})
        else:
            url = f"/api/canvases/{client.canvas}/videos/{video}.{fmt}"
            client.send({"type": "video.done", "video": video, "url": url, "bytes": path.stat().st_size,
                         **stats.as_dict()})
        finally:
            self.running = None

    def _sweep(self) -> None:
        """Remove the videos older than KEEP_SECONDS."""
        if not self.folder.is_dir():
            return
        old = time.time() - KEEP_SECONDS
        for path in self.folder.iterdir():
            try:
                if path.stat().st_mtime < old:
                    path.unlink()
            except OSError:
                pass


def settings_of(message: dict[str, Any]) -> VideoSettings:
    """The VideoSettings a `video` command asks for (fields checked by the protocol's rules)."""
    try:
        return VideoSettings(
            width=integer(message, "width", 16, 2048, 512), height=integer(message, "height", 16, 2048, 512),
            fps=integer(message, "fps", 1, 60, 30), duration=number(message, "duration", 0.1, 600.0, 10.0),
            hold=number(message, "hold", 0.0, 60.0, 0.5), easing=text(message, "easing", 32, "ease-in-out"),
            direction=text(message, "direction", 8, "out"),
        )
    except VideoError as exc:
        raise ApiError("bad_params", str(exc)) from None
