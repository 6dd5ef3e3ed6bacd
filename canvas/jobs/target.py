"""Turn a job's target into pixels: which pixels of which area the job must paint.

The area is the target's bounding box grown by one window on every side, so the planner
can place windows that reach back into known content for context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canvas.jobs.spec import MAX_TARGET_PX, Expand, Frame, Inpaint, JobError, JobSpec, Stage
from canvas.store import Store
from tiler.rect import Rect

KNOWN_ALPHA = 128  # alpha at or above this counts as known content


@dataclass
class TargetPixels:
    area: Rect  # where the maps below lie, at the job's level
    target: np.ndarray  # bool: pixels the job paints
    known: np.ndarray  # bool: context pixels (known and not target, or already painted)
    target_left: np.ndarray = field(init=False)  # bool: target not painted yet

    def __post_init__(self) -> None:
        self.target_left = self.target.copy()


def resolve_target(store: Store, spec: JobSpec) -> TargetPixels:
    level, window = spec.level, spec.tiler.window
    goal = _goal_rect(store, spec)
    if goal.area > MAX_TARGET_PX:
        raise JobError(
            f"a job may cover at most {MAX_TARGET_PX // 2**20} megapixels; this one covers "
            f"{goal.w} x {goal.h} px: split it into smaller steps"
        )
    area = goal.grow(window)
    alpha = store.read(level, area)[..., 3]
    # Above a coarse-to-fine job's own level, only what is known all through is context.
    coarse = isinstance(spec.target, Stage) and spec.target.scale > 0
    known = alpha == 255 if coarse else alpha >= KNOWN_ALPHA
    target = np.zeros(known.shape, dtype=bool)
    inner = goal.relative_to(area).slices
    if isinstance(spec.target, (Inpaint, Stage)):
        target[inner] = spec.target.mask
    else:
        target[inner] = ~known[inner]
    known &= ~target
    if not target.any():
        raise JobError("nothing to paint: the frame holds no unknown pixel (paint a mask to repaint known pixels)")
    return TargetPixels(area=area, target=target, known=known)


def _goal_rect(store: Store, spec: JobSpec) -> Rect:
    target = spec.target
    if isinstance(target, Expand):
        bounds = store.bounds(spec.level)
        if bounds.empty:
            raise JobError("the canvas is empty: import an image before expanding")
        return bounds.grow(target.left, target.up, target.right, target.down)
    if isinstance(target, Frame):
        if target.rect.empty:
            raise JobError("the frame is empty")
        return target.rect
    if isinstance(target, (Inpaint, Stage)):
        return target.rect
    raise JobError(f"unknown target {target!r}")
