"""Zoom-out: the picture seen from further away, again and again.

Step n sees the frame from `factor**n` times further: the region around the frame that
much larger is painted at the level where it is about as many pixels as the frame, so
every step paints a ring of the same size in pixels around a shrunken copy of what is
there, and the canvas grows in scale, not only in extent. The original stays at full
resolution at level 0; every ring is authored at its own coarser level.

With factor 2, step n paints at level n; other factors (1.5 to 4) paint at the finest
level where the region is at least the frame's size (floor(log2(scale))), so no step
paints at a finer level than it needs. Each step is a `Frame` job at that level, so
window planning, context, seams and prefill are the usual ones; all steps are one job
and one undo step (`run_steps`).

    steps = zoom_out_steps(Rect(0, 0, 512, 512), steps=6, factor=2.0, request=PaintRequest(seed=7))
    run_steps(store, painter, steps, kind="zoomout", params=...)
"""

from __future__ import annotations

import math
from dataclasses import replace

from canvas.jobs.schedule import PromptSchedule
from canvas.jobs.spec import MAX_LEVEL, Frame, JobError, JobSpec, TilerSettings
from canvas.painters.base import PaintRequest
from tiler.rect import Rect

MIN_FACTOR = 1.5
MAX_FACTOR = 4.0
DEFAULT_FACTOR = 2.0


def zoom_level(scale: float) -> int:
    """The level a region `scale` times the frame is painted at."""
    return max(0, math.floor(math.log2(scale) + 1e-9))


def zoom_region(frame: Rect, scale: float) -> Rect:
    """`frame` made `scale` times larger about its centre (level 0), rounded outwards."""
    cx, cy = frame.x + frame.w / 2, frame.y + frame.h / 2
    half_w, half_h = frame.w * scale / 2, frame.h * scale / 2
    return Rect.from_edges(math.floor(cx - half_w), math.floor(cy - half_h), math.ceil(cx + half_w), math.ceil(cy + half_h))


def zoom_out_steps(
    frame: Rect,
    steps: int,
    factor: float = DEFAULT_FACTOR,
    request: PaintRequest | None = None,
    tiler: TilerSettings | None = None,
    schedule: PromptSchedule | None = None,
) -> list[JobSpec]:
    """One Frame spec per step; raises JobError for a bad frame, factor or step count."""
    if frame.empty:
        raise JobError("zoom out around what? the frame is empty (import an image first)")
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise JobError(f"the zoom factor must be between {MIN_FACTOR} and {MAX_FACTOR}, got {factor}")
    whole = isinstance(steps, int) and not isinstance(steps, bool)
    if not whole or not 1 <= steps <= 64 or zoom_level(factor**steps) > MAX_LEVEL:
        most = math.floor((MAX_LEVEL + 1) / math.log2(factor) - 1e-9)
        raise JobError(f"zoom out by 1 to {most} steps of {factor}x (the coarsest level is {MAX_LEVEL}), got {steps}")
    request = request or PaintRequest()
    tiler = tiler or TilerSettings()
    schedule = schedule or PromptSchedule()
    specs = []
    for step in range(1, steps + 1):
        scale = factor**step
        level = zoom_level(scale)
        rect = zoom_region(frame, scale).to_level(0, level)
        stepped = replace(request, prompt=schedule.at(step, request.prompt))
        specs.append(JobSpec(Frame(rect), request=stepped, tiler=tiler, level=level))
    return specs
