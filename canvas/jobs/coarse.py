"""Coarse to fine: paint a big target whole at a coarse level first, then refine it down.

Window by window at full resolution (`tiles`), no window of a big target sees the whole
of it: a figure changes its clothes halfway down, a horizon bends, PatchMatch smears the
far part into streaks. With `coarse` the job becomes stages of the ordinary runner:

1. the coarse stage paints the target at the finest level where it fits one window with
   its context (`coarse_level`): the known picture is read there downsampled, as a
   zoom-out reads it, and the stage is authored at that level, as a zoom-out's rings are;
2. every finer level down to the job's own then repaints the target window by window,
   each window starting from the level above upsampled (`Stage.start`): a diffusion
   painter denoises it at `refine_strength` (img2img), PatchMatch follows it as a guide.

Viewers see the coarse picture first, then sharper windows replacing it. All stages are
one job: one revision, one undo step; candidates are offered at the coarse stage, where
the composition is chosen, and each refine stage paints one. `auto` is `coarse` when the
target needs more than `AUTO_WINDOWS` windows at its own level (bench/coherence.py).

    stages = plan_stages(store, JobSpec(Expand(down=1536), strategy="coarse"))
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from canvas.jobs.spec import MAX_LEVEL, JobSpec, Stage
from canvas.jobs.target import TargetPixels, resolve_target
from canvas.store import Store
from tiler.planner import plan_windows
from tiler.rect import Rect, mask_bounds

# auto: coarse when the tiles plan needs more windows than this (see README, "Big regions").
AUTO_WINDOWS = 3
# Context the coarse stage wants around the target, where the canvas has content, as a
# share of the window on each side: about the planner's 25 % of a window.
CONTEXT_SHARE = 0.25


def plan_stages(store: Store, spec: JobSpec) -> list[JobSpec]:
    """The stages `spec` is painted in: itself (tiles, or a target that fits one window at
    its level), or the coarse stage and one refine stage per finer level. Raises JobError
    for bad input before anything is written."""
    if spec.strategy == "tiles" or isinstance(spec.target, Stage):
        return [spec]
    pixels = resolve_target(store, spec)
    if spec.strategy == "auto":
        plan = plan_windows(pixels.known, pixels.target, pixels.area, window=spec.tiler.window,
                            context=spec.tiler.context)
        if len(plan) <= AUTO_WINDOWS:
            return [replace(spec, strategy="tiles")]
    top = coarse_level(pixels, spec.level, spec.tiler.window)
    stages = []
    for level in range(top, spec.level - 1, -1):
        scale = level - spec.level
        mask, rect = stage_mask(pixels, scale)
        if not mask.any():
            continue  # a target too thin to cover one whole pixel of this level
        first = not stages
        request = spec.request if first else replace(spec.request, strength=spec.refine_strength, candidates=1)
        start = None if first else level + 1
        stages.append(replace(spec, target=Stage(mask, rect.x, rect.y, scale=scale, start=start), request=request,
                              level=level, strategy="tiles"))
    return stages if len(stages) > 1 else [replace(spec, strategy="tiles")]


def coarse_level(pixels: TargetPixels, level: int, window: int) -> int:
    """The level the coarse stage paints at: the finest, from the job's `level` up, where
    the target's bounding box, grown by a quarter window on every side where the canvas
    has content (known or target), fits in one `window`."""
    content = mask_bounds(pixels.known | pixels.target).translate(pixels.area.x, pixels.area.y)
    target = mask_bounds(pixels.target).translate(pixels.area.x, pixels.area.y)
    margin = round(window * CONTEXT_SHARE)
    for coarse in range(level, min(MAX_LEVEL, level + window.bit_length() - 1) + 1):
        here = target.to_level(level, coarse)
        box = here.grow(margin).intersect(content.to_level(level, coarse)).union(here)
        if box.w <= window and box.h <= window:
            return coarse
    return coarse


def stage_mask(pixels: TargetPixels, scale: int) -> tuple[np.ndarray, Rect]:
    """The target `scale` levels up, and where it lies there: every pixel that covers a
    target pixel and no empty one (neither known nor target) of the job's level."""
    f = 1 << scale
    target = mask_bounds(pixels.target).translate(pixels.area.x, pixels.area.y)
    rect = target.to_level(0, scale)  # to_level only shifts: any level pair `scale` apart
    region = Rect(rect.x * f, rect.y * f, rect.w * f, rect.h * f).relative_to(pixels.area)
    shape = (rect.h, f, rect.w, f)
    covers = pixels.target[region.slices].reshape(shape).any(axis=(1, 3))
    empty = ~(pixels.known | pixels.target)[region.slices]
    empty = empty.reshape(shape).any(axis=(1, 3))
    return covers & ~empty, rect


__all__ = ["AUTO_WINDOWS", "coarse_level", "plan_stages", "stage_mask"]
