"""Infinite-zoom videos: a continuous zoom through every level of a canvas, from the
innermost content out to the whole canvas (or back), as MP4, animated WebP or GIF.

    stats = render_video(store, Path("zoom.mp4"), VideoSettings(duration=10, fps=30))

`path` is the camera, `layers` draws a frame from the pyramid (sharpest source last,
levels faded into each other), `encode` writes the file. The file appears whole or not
at all: frames go to a temporary file beside it, renamed at the end.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from canvas.painters.base import CancelToken
from canvas.store import Store
from canvas.video.encode import FORMATS, MIME, format_of, open_writer
from canvas.video.layers import LevelStack
from canvas.video.path import EASINGS, ZoomPath, progress_of

MAX_SIDE = 2048
MAX_FRAMES = 60 * 120


class VideoError(ValueError):
    """Settings or a canvas a video cannot be made from; the message is for the user."""


@dataclass(frozen=True)
class VideoSettings:
    width: int = 512
    height: int = 512
    fps: int = 30
    duration: float = 10.0  # s, holds included
    hold: float = 0.5  # s still at each end
    easing: str = "ease-in-out"
    direction: str = "out"  # out: from the innermost content to the whole canvas; in: back

    def __post_init__(self) -> None:
        for side in (self.width, self.height):
            if not isinstance(side, int) or isinstance(side, bool) or not 16 <= side <= MAX_SIDE or side % 2:
                raise VideoError(f"a video side is an even number of px from 16 to {MAX_SIDE}, got {side!r}")
        if not isinstance(self.fps, int) or not 1 <= self.fps <= 60:
            raise VideoError(f"fps must be a whole number from 1 to 60, got {self.fps!r}")
        if not 0.1 <= self.duration or self.frames > MAX_FRAMES:
            raise VideoError(f"a video lasts from 0.1 s up to {MAX_FRAMES} frames; got {self.duration} s at {self.fps} fps")
        if not 0 <= self.hold or 2 * self.hold >= self.duration:
            raise VideoError(f"the holds ({self.hold} s at each end) must leave time to zoom in {self.duration} s")
        if self.easing not in EASINGS:
            raise VideoError(f"easing must be one of {', '.join(EASINGS)}, got {self.easing!r}")
        if self.direction not in ("out", "in"):
            raise VideoError(f"direction must be 'out' or 'in', got {self.direction!r}")

    @property
    def frames(self) -> int:
        return max(1, round(self.duration * self.fps))


@dataclass(frozen=True)
class VideoStats:
    frames: int
    seconds: float  # to render and encode
    zoom: float  # outer camera size over inner
    levels: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[int, int], None]


def render_video(
    store: Store, output: Path, settings: VideoSettings, progress: Progress | None = None, cancel: CancelToken | None = None
) -> VideoStats:
    """Render and write the zoom; raises VideoError (nothing written) or Cancelled (nothing left)."""
    try:
        format_of(output)
    except ValueError as exc:
        raise VideoError(str(exc)) from None
    started = time.perf_counter()
    try:
        stack = LevelStack(store)
    except ValueError as exc:
        raise VideoError(str(exc)) from None
    path = ZoomPath.between(stack.inner, stack.outer, settings.width / settings.height)
    frames, hold = settings.frames, round(settings.hold * settings.fps)
    partial = output.with_name(f".{output.name}.part{output.suffix}")

    def render(frame: int) -> np.ndarray:
        camera = path.at(progress_of(frame, frames, hold, settings.easing, settings.direction == "out"))
        return stack.render(camera, settings.width, settings.height)

    writer = open_writer(partial, settings.width, settings.height, settings.fps)
    # Frames are drawn on every core (Pillow's resampling releases the GIL) while this
    # thread encodes them in order; a few frames ahead at most, so memory stays flat.
    workers = max(1, min(4, os.cpu_count() or 1))
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="video") as pool:
            ahead: deque[Future[np.ndarray]] = deque()
            for frame in range(frames):
                while len(ahead) < 2 * workers and frame + len(ahead) < frames:
                    ahead.append(pool.submit(render, frame + len(ahead)))
                if cancel is not None and cancel.cancelled:
                    for future in ahead:
                        future.cancel()
                    cancel.raise_if_cancelled()
                writer.write(ahead.popleft().result())
                if progress is not None:
                    progress(frame + 1, frames)
        writer.close()
        os.replace(partial, output)
    except BaseException:
        writer.abort()
        partial.unlink(missing_ok=True)
        raise
    return VideoStats(frames, time.perf_counter() - started, path.ratio, len(stack.levels))


__all__ = ["FORMATS", "MIME", "VideoError", "VideoSettings", "VideoStats", "render_video"]
