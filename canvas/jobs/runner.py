"""Run a job from start to end: plan the windows, paint them in order, commit each.

One path for every request (DESIGN.md): the target decides what to paint; planning,
masking, painting, compositing and committing are the same for all of them. Every window
is one store transaction, so a crash or a cancel leaves only whole windows, and the job
as a whole is one revision that undo steps over.

    result = run_job(store, create_painter("patchmatch"), JobSpec(Expand(down=512)))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from canvas.jobs.events import EventCallback, JobPlanned, WindowCommitted, WindowProgress
from canvas.jobs.spec import JobError, JobSpec
from canvas.jobs.target import TargetPixels, resolve_target
from canvas.jobs.window import PaintedWindow, WindowPixels, paint_window
from canvas.painters.base import CancelToken, Cancelled, PaintProgress, Painter
from canvas.store import Store
from tiler.planner import Window, plan_windows
from tiler.rect import Rect

# Chooses which candidate to commit; may block (the server waits for a user's pick) and
# returns None to discard the window, which ends the job.
SelectCandidate = Callable[[int, Window, PaintedWindow], "int | None"]


@dataclass
class JobResult:
    rev: int
    status: str  # done | cancelled | failed
    windows_done: int
    windows: list[Window]
    seconds: float


def run_job(
    store: Store,
    painter: Painter,
    spec: JobSpec,
    *,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    select: SelectCandidate | None = None,
) -> JobResult:
    """Plan and paint `spec` on `store`. Bad input raises JobError before anything is written."""
    return run_steps(store, painter, [spec], on_event=on_event, cancel=cancel, select=select)


def run_steps(
    store: Store,
    painter: Painter,
    steps: Sequence[JobSpec],
    *,
    kind: str | None = None,
    params: dict[str, Any] | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    select: SelectCandidate | None = None,
) -> JobResult:
    """Paint several specs one after another as one job: one revision, one undo step.

    Each step is planned when it starts, so it sees what the steps before it painted
    (a zoom-out ring is context for the next ring; a body grown downwards is context for
    widening it). `kind` and `params` name the whole job in the history; by default they
    are the first step's. The first step is planned before anything is written, so bad
    input raises JobError with the canvas untouched.
    """
    if not steps:
        raise JobError("a job needs at least one step")
    started = time.perf_counter()
    emit = on_event or (lambda event: None)
    cancel = cancel or CancelToken()
    first = _plan(store, steps[0])
    if params is None:
        params = recorded_params(steps[0], painter)
    info = {"plan": [list(w.rect.as_tuple()) for w in first[1]], "level": steps[0].level}
    rev = store.begin_revision(kind or type(steps[0].target).__name__.lower(), params, info)

    done = 0
    status = "done"
    windows: list[Window] = []
    plans: list[dict[str, Any]] = []
    try:
        for number, spec in enumerate(steps):
            pixels, plan = first if number == 0 else _plan(store, spec)
            windows += plan
            plans.append({"level": spec.level, "plan": [list(w.rect.as_tuple()) for w in plan]})
            emit(JobPlanned(rev=rev, windows=[w.rect for w in plan], level=spec.level, stage=number, stages=len(steps)))
            before = done
            for index in range(len(plan)):
                cancel.raise_if_cancelled()
                if not _paint_and_commit(store, painter, spec, pixels, plan, index, rev, emit, cancel, select, before):
                    status = "cancelled"
                    break
                done += 1
            if status != "done":
                break
    except Cancelled:
        status = "cancelled"
    except BaseException as exc:
        # Ctrl+C cancels; anything else fails the job. Committed windows stay either way.
        failed = isinstance(exc, Exception)
        store.finish_revision(rev, "failed" if failed else "cancelled", windows=done, error=str(exc) or type(exc).__name__,
                              **_steps_info(plans))
        raise
    store.finish_revision(rev, status, windows=done, **_steps_info(plans))
    return JobResult(rev, status, done, windows, time.perf_counter() - started)


def _plan(store: Store, spec: JobSpec) -> tuple[TargetPixels, list[Window]]:
    pixels = resolve_target(store, spec)
    plan = plan_windows(pixels.known, pixels.target, pixels.area, window=spec.tiler.window, context=spec.tiler.context)
    return pixels, plan


def _steps_info(plans: list[dict[str, Any]]) -> dict[str, Any]:
    """A job of several steps records each step's plan (one step's is in `plan` already)."""
    return {"steps": plans} if len(plans) > 1 else {}


def _paint_and_commit(
    store: Store,
    painter: Painter,
    spec: JobSpec,
    pixels: TargetPixels,
    plan: list[Window],
    index: int,
    rev: int,
    emit: EventCallback,
    cancel: CancelToken,
    select: SelectCandidate | None,
    painted_before: int,
) -> bool:
    window = plan[index]
    rect = window.rect
    local = rect.relative_to(pixels.area)
    rgba = store.read(spec.level, rect)
    # `known` grows and `target_left` shrinks as windows commit: what earlier windows
    # painted is context for this one.
    window_pixels = WindowPixels(
        rgba=rgba,
        known=pixels.known[local.slices].copy(),
        fill=pixels.target_left[local.slices].copy(),
        outside_known=_ring(pixels, rect),
    )
    # Numbered across the whole job, so the windows of later steps get seeds of their own.
    request = replace(spec.request, seed=_window_seed(spec.request.seed, painted_before + index))

    def progress(p: PaintProgress) -> None:
        emit(WindowProgress(index, len(plan), rect, p.step, p.steps, p.preview))

    painted = paint_window(window_pixels, painter, request, spec.tiler, progress, cancel)
    choice = 0 if select is None else select(index, window, painted)
    if choice is None:
        return False
    store.commit(rev, spec.level, rect, painted.candidates[choice], painted.changed)
    pixels.target_left[local.slices] &= ~window_pixels.fill
    pixels.known[local.slices] |= window_pixels.fill
    emit(WindowCommitted(index, len(plan), rect, spec.level, rev))
    return True


def _ring(pixels: TargetPixels, rect: Rect) -> np.ndarray:
    """Known-ness of the window and the one-pixel ring around it (False beyond the area)."""
    ring = np.zeros((rect.h + 2, rect.w + 2), dtype=bool)
    outer = rect.grow(1)
    inside = outer.intersect(pixels.area)
    ring[inside.relative_to(outer).slices] = pixels.known[inside.relative_to(pixels.area).slices]
    return ring


def _window_seed(seed: int, index: int) -> int:
    """A distinct, reproducible seed per window (candidates add their own index to it)."""
    return (seed + 7919 * index) % 2**32


__all__ = ["JobResult", "SelectCandidate", "run_job", "run_steps"]


def recorded_params(spec: JobSpec, painter: Painter) -> dict[str, Any]:
    """What a job's revision records of its settings (and an exported PNG carries): the
    job's, the painter's, and the job's own painter options, which win over the
    painter's defaults."""
    return {**spec.describe(samples=getattr(painter, "samples", False)), **painter.describe(), **spec.request.options}
