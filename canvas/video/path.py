"""The camera of a zoom video: from the innermost content out to the whole canvas.

The camera's size changes geometrically (the same zoom ratio every frame, as a real
zoom feels), and its centre moves linearly with its size, so the zoom has one fixed
point: a zoom-out around a frame stays centred on it. Easing shapes the progress; the
holds keep the first and last frames still.

    path = ZoomPath.between(Rect(0, 0, 512, 512), Rect(-7936, -7936, 16384, 16384), aspect=1.0)
    path.at(0.0), path.at(1.0)       # the inner and the outer camera
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tiler.rect import Rect

EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "ease-in-out": lambda t: t * t * (3 - 2 * t),
    "ease-in": lambda t: t * t,
    "ease-out": lambda t: 1 - (1 - t) * (1 - t),
}


@dataclass(frozen=True)
class Camera:
    """What one frame shows, in level-0 pixels (fractional)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def fit_inside(rect: Rect, aspect: float) -> Camera:
    """The largest camera of `aspect` (width / height) inside `rect`, centred on it."""
    w = min(rect.w, rect.h * aspect)
    h = w / aspect
    return Camera(rect.x + (rect.w - w) / 2, rect.y + (rect.h - h) / 2, w, h)


@dataclass(frozen=True)
class ZoomPath:
    inner: Camera
    outer: Camera

    @classmethod
    def between(cls, inner: Rect, outer: Rect, aspect: float) -> ZoomPath:
        return cls(fit_inside(inner, aspect), fit_inside(outer, aspect))

    @property
    def ratio(self) -> float:
        """How many times larger the outer camera is than the inner one."""
        return self.outer.w / self.inner.w

    def at(self, progress: float) -> Camera:
        """The camera `progress` of the way out (0 inner, 1 outer)."""
        inner, outer = self.inner, self.outer
        w = inner.w * self.ratio**progress
        share = (w - inner.w) / (outer.w - inner.w) if outer.w != inner.w else progress
        cx = inner.cx + (outer.cx - inner.cx) * share
        cy = inner.cy + (outer.cy - inner.cy) * share
        h = w * inner.h / inner.w
        return Camera(cx - w / 2, cy - h / 2, w, h)


def progress_of(frame: int, frames: int, hold_frames: int, easing: str, outwards: bool) -> float:
    """Zoom progress (0 inner, 1 outer) of `frame` in a video of `frames` with holds."""
    moving = frames - 2 * hold_frames
    t = min(max((frame - hold_frames) / max(moving - 1, 1), 0.0), 1.0)
    t = EASINGS[easing](t)
    return t if outwards else 1.0 - t
