"""Run a job from start to end: plan the windows, paint them, commit each.

One path for every request (docs/architecture.md): the target decides what to paint; planning,
masking, painting, compositing and committing are the same for all of them. Every window
is one store transaction, so a crash or a cancel leaves only whole windows, and the job
as a whole is one revision that undo steps over.

Windows are painted on a pool (canvas/jobs/pool.py): every window whose dependencies
(`Window.after`: the earlier windows it touches) are committed is handed to it at once,
up to its size, lowest plan index first. The runner's thread alone reads the store,
commits, chooses candidates and emits events. A window reads the canvas when it is
handed out, and nothing it reads changes until it commits (its neighbours wait for it),
so the pixels are those of the sequential order whatever the pool's size, and the seeds
are numbered by plan index. Without a pool the painter paints in this thread: one
window after the other, as always.

    result = run_job(store, create_painter("patchmatch"), JobSpec(Expand(down=512)))
    result = run_job(store, None, JobSpec(Expand(left=512, right=512)), pool=pool)
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from canvas.jobs.coarse import plan_stages
from canvas.jobs.events import EventCallback, JobPlanned, ModelLoading, WindowCommitted, WindowProgress
from canvas.jobs.pool import InlinePool, PainterPool, WindowTask
from canvas.jobs.spec import JobError, JobSpec, Stage
from canvas.jobs.target import TargetPixels, resolve_target
from canvas.jobs.window import PaintedWindow, WindowPixels
from canvas.painters.base import CancelToken, Cancelled, PaintProgress, Painter, label_of, paints_from_nothing, uses_of
from canvas.store import Store
from canvas.store.pixels import upsample_smooth
from tiler.planner import Window, plan_windows
from tiler.rect import Rect

# Chooses which candidate to commit; may block (the server waits for a user's pick) and
# returns None to discard the window, which ends the job.
SelectCandidate = Callable[[int, Window, PaintedWindow], "int | None"]
_CANCEL_POLL = 0.1  # s between looks at the cancel token while windows paint elsewhere


@dataclass
class JobResult:
    rev: int
    status: str  # done | cancelled | failed
    windows_done: int
    windows: list[Window]
    seconds: float
    # A coarse-to-fine job cancelled: its revision is gone, and this is the area (level 0)
    # whose tiles it had written, which viewers must see again as they were (None: none).
    taken_back: Rect | None = None


def run_job(
    store: Store,
    painter: Painter | None,
    spec: JobSpec,
    *,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    select: SelectCandidate | None = None,
    pool: PainterPool | None = None,
) -> JobResult:
    """Plan and paint `spec` on `store`. Bad input raises JobError before anything is written."""
    return run_steps(store, painter, [spec], on_event=on_event, cancel=cancel, select=select, pool=pool)


def run_steps(
    store: Store,
    painter: Painter | None,
    steps: Sequence[JobSpec],
    *,
    kind: str | None = None,
    params: dict[str, Any] | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    select: SelectCandidate | None = None,
    pool: PainterPool | None = None,
) -> JobResult:
    """Paint several specs one after another as one job: one revision, one undo step.

    Each step is planned when it starts, so it sees what the steps before it painted
    (a zoom-out ring is context for the next ring; a body grown downwards is context for
    widening it). `kind` and `params` name the whole job in the history; by default they
    are the first step's. The first step is planned before anything is written, so bad
    input raises JobError with the canvas untouched.

    A step whose strategy is coarse (canvas/jobs/coarse.py) is painted in several stages,
    all in this job; cancelled, such a job takes back everything it painted (its revision
    is dropped, `JobResult.taken_back` says where).

    `pool` paints the windows (several at once when it is larger than one); without one,
    `painter` paints them here. With a pool, `painter` may be None: the record then
    describes the pool's painter.
    """
    if not steps:
        raise JobError("a job needs at least one step")
    if pool is None:
        if painter is None:
            raise ValueError("run a job with a painter or a pool")
        pool = InlinePool(painter)
    started = time.perf_counter()
    emit = on_event or (lambda event: None)
    cancel = cancel or CancelToken()
    described = painter if painter is not None else getattr(pool, "profile", pool)  # what paints, as records read it
    # A step's strategy may make it several stages (canvas/jobs/coarse.py): planned when
    # the step starts, as the step itself; the first before anything is written.
    stages = plan_stages(store, steps[0])
    first = _plan(store, stages[0], described)
    if params is None:
        params = recorded_params(steps[0], described)
    info = {"plan": [list(w.rect.as_tuple()) for w in first[1]], "level": stages[0].level}
    rev = store.begin_revision(kind or type(steps[0].target).__name__.lower(), params, info)

    job = _Painting(store, pool, rev, emit, cancel, select)
    status = "done"
    windows: list[Window] = []
    plans: list[dict[str, Any]] = []
    staged = len(stages) > 1  # coarse to fine: a cancel takes back the whole job
    try:
        for number, step in enumerate(steps):
            if number:
                stages = plan_stages(store, step)
                staged |= len(stages) > 1
            for index, spec in enumerate(stages):
                pixels, plan = first if not plans else _plan(store, spec, described)
                windows += plan
                plans.append({"level": spec.level, "plan": [list(w.rect.as_tuple()) for w in plan]})
                total = len(plans) + len(stages) - 1 - index + len(steps) - 1 - number  # as far as planned
                emit(JobPlanned(rev=rev, windows=[w.rect for w in plan], level=spec.level, stage=len(plans) - 1,
                                stages=total))
                if not job.paint_stage(spec, pixels, plan):
                    raise Cancelled()
    except Cancelled:
        status = "cancelled"
    except BaseException as exc:
        # Ctrl+C cancels; anything else fails the job. Committed windows stay either way,
        # but for a cancelled coarse-to-fine job (below).
        failed = isinstance(exc, Exception)
        if staged and not failed:
            store.drop_revision(rev)
            raise
        store.finish_revision(rev, "failed" if failed else "cancelled", windows=job.done, error=str(exc) or type(exc).__name__,
                              **_steps_info(plans))
        raise
    if status == "cancelled" and staged:
        # A coarse picture half refined is no picture anyone asked for: nothing stays.
        taken_back = store.drop_revision(rev)
        return JobResult(rev, status, 0, windows, time.perf_counter() - started, taken_back=taken_back)
    store.finish_revision(rev, status, windows=job.done, **_steps_info(plans))
    return JobResult(rev, status, job.done, windows, time.perf_counter() - started)


def _plan(store: Store, spec: JobSpec, painter: Any) -> tuple[TargetPixels, list[Window]]:
    """The target's pixels and windows. A window with nothing known in it when it is
    painted (a frame on an empty canvas) is painted from the prompt alone; a painter that
    takes no prompt cannot paint it, and the job fails before anything is written. A
    refine stage's windows start from the coarser picture, so they never paint from nothing."""
    pixels = resolve_target(store, spec)
    plan = plan_windows(pixels.known, pixels.target, pixels.area, window=spec.tiler.window, context=spec.tiler.context)
    refines = isinstance(spec.target, Stage) and spec.target.start is not None
    if not refines and not paints_from_nothing(painter) and any(window.context == 0 for window in plan):
        raise JobError(f"{label_of(painter)} copies from known pixels and there are none here: upload a picture, "
                       f"move the frame next to what is painted, or use a painter that paints from a prompt (diffusion)")
    return pixels, plan


def _steps_info(plans: list[dict[str, Any]]) -> dict[str, Any]:
    """A job of several steps records each step's plan (one step's is in `plan` already)."""
    return {"steps": plans} if len(plans) > 1 else {}


class _StageToken(CancelToken):
    """Cancelled with the job, or when the runner stops a stage itself (a window failed,
    a pick was discarded): the windows still painting stop at their next check."""

    def __init__(self, job: CancelToken) -> None:
        super().__init__()
        self._job = job

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._job.cancelled

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()


class _Painting:
    """One job's windows on its pool: which may start, what is painting, what is committed."""

    def __init__(self, store: Store, pool: PainterPool, rev: int, emit: EventCallback, cancel: CancelToken,
                 select: SelectCandidate | None) -> None:
        self.store, self.pool, self.rev, self.emit, self.cancel, self.select = store, pool, rev, emit, cancel, select
        self.done = 0  # windows committed, all stages together

    def paint_stage(self, spec: JobSpec, pixels: TargetPixels, plan: list[Window]) -> bool:
        """Paint and commit every window of `plan`; False when a pick discarded one (the
        job ends there). Raises Cancelled, or what a window's painting raised, after the
        windows still painting have stopped: nothing of theirs is committed."""
        before = self.done  # seeds are numbered across the whole job, by plan index
        waiting = [len(w.after) for w in plan]  # dependencies not committed yet
        dependents: list[list[int]] = [[] for _ in plan]
        for index, window in enumerate(plan):
            for earlier in window.after:
                dependents[earlier].append(index)
        ready = [index for index, count in enumerate(waiting) if count == 0]
        heapq.heapify(ready)
        # Progress reports and finished windows, from the pool's threads to this one.
        inbox: queue.SimpleQueue[tuple[int, PaintProgress | None]] = queue.SimpleQueue()
        here = threading.get_ident()
        stop = _StageToken(self.cancel)
        painting: dict[int, Future[PaintedWindow]] = {}
        fills: dict[int, np.ndarray] = {}  # what each window paints, as it was handed out
        committed = 0
        prepare = getattr(self.pool, "prepare", None)
        if prepare is not None:  # the job's model loads here, in the job's thread, not on a painter's
            # A cancel ends the wait for a model at once (the load goes on, into the painter's cache).
            prepare(spec.request, lambda report: self.emit(_loading(report)) if report.loading else None, self.cancel)
            self.cancel.raise_if_cancelled()
        try:
            while committed < len(plan):
                while ready and len(painting) < self.pool.size:
                    self.cancel.raise_if_cancelled()
                    index = heapq.heappop(ready)
                    task = self._task(spec, pixels, plan, index, before, inbox, here, stop)
                    future = self.pool.submit(task)
                    painting[index], fills[index] = future, task.pixels.fill
                    future.add_done_callback(lambda _, index=index: inbox.put((index, None)))
                index, report = self._next(inbox)
                if report is not None:
                    if index in painting:
                        self.emit(_progress(index, len(plan), plan[index].rect, report))
                    continue
                painted = painting.pop(index).result()
                self.cancel.raise_if_cancelled()
                if not self._commit(spec, pixels, plan[index], index, len(plan), painted, fills.pop(index)):
                    return False
                committed += 1
                for later in dependents[index]:
                    waiting[later] -= 1
                    if waiting[later] == 0:
                        heapq.heappush(ready, later)
            return True
        finally:
            if painting:  # a window failed or the job ends early: stop the others, drop them
                stop.cancel()
                for future in painting.values():
                    future.cancel()
                wait(painting.values())

    def _task(self, spec: JobSpec, pixels: TargetPixels, plan: list[Window], index: int, before: int,
              inbox: "queue.SimpleQueue[tuple[int, PaintProgress | None]]", here: int, stop: CancelToken) -> WindowTask:
        rect = plan[index].rect
        local = rect.relative_to(pixels.area)
        # `known` grows and `target_left` shrinks as windows commit: what earlier windows
        # painted is context for this one.
        window_pixels = WindowPixels(
            rgba=self.store.read(spec.level, rect),
            known=pixels.known[local.slices].copy(),
            fill=pixels.target_left[local.slices].copy(),
            outside_known=_ring(pixels, rect),
            start=_upsampled(self.store, spec, rect),
        )
        request = replace(spec.request, seed=_window_seed(spec.request.seed, before + index))

        def progress(report: PaintProgress) -> None:
            if threading.get_ident() == here:  # painted in this thread: tell it now
                self.emit(_progress(index, len(plan), rect, report))
            else:
                inbox.put((index, report))

        return WindowTask(window_pixels, request, spec.tiler, progress, stop)

    def _next(self, inbox: "queue.SimpleQueue[tuple[int, PaintProgress | None]]") -> tuple[int, PaintProgress | None]:
        """The next report or finished window; raises Cancelled as soon as the job is
        cancelled (its windows may still wait for a painter another job holds)."""
        while True:
            try:
                return inbox.get(timeout=_CANCEL_POLL)
            except queue.Empty:
                self.cancel.raise_if_cancelled()

    def _commit(self, spec: JobSpec, pixels: TargetPixels, window: Window, index: int, windows: int,
                painted: PaintedWindow, fill: np.ndarray) -> bool:
        choice = 0 if self.select is None else self.select(index, window, painted)
        if choice is None:
            return False
        rect = window.rect
        local = rect.relative_to(pixels.area)
        self.store.commit(self.rev, spec.level, rect, painted.candidates[choice], painted.changed)
        pixels.target_left[local.slices] &= ~fill
        pixels.known[local.slices] |= fill
        self.done += 1
        self.emit(WindowCommitted(index, windows, rect, spec.level, self.rev))
        return True


def _progress(index: int, windows: int, rect: Rect, report: PaintProgress) -> WindowProgress | ModelLoading:
    """A painter's report as a job event: a window's step, or a model loading for it."""
    if report.loading:
        return _loading(report)
    return WindowProgress(index, windows, rect, report.step, report.steps, report.preview)


def _loading(report: PaintProgress) -> ModelLoading:
    return ModelLoading(str(report.loading), report.step >= report.steps)


def _ring(pixels: TargetPixels, rect: Rect) -> np.ndarray:
    """Known-ness of the window and the one-pixel ring around it (False beyond the area)."""
    ring = np.zeros((rect.h + 2, rect.w + 2), dtype=bool)
    outer = rect.grow(1)
    inside = outer.intersect(pixels.area)
    ring[inside.relative_to(outer).slices] = pixels.known[inside.relative_to(pixels.area).slices]
    return ring


def _upsampled(store: Store, spec: JobSpec, rect: Rect) -> np.ndarray | None:
    """A refine stage's start over `rect`: the coarser level's picture, smoothly upsampled
    (RGBA; alpha 0 where that level holds nothing)."""
    target = spec.target
    if not isinstance(target, Stage) or target.start is None:
        return None
    shift = target.start - spec.level
    source = rect.to_level(spec.level, target.start).grow(1)
    return upsample_smooth(store.read(target.start, source), source, shift, rect)


def _window_seed(seed: int, index: int) -> int:
    """A distinct, reproducible seed per window (candidates add their own index to it)."""
    return (seed + 7919 * index) % 2**32


__all__ = ["JobResult", "SelectCandidate", "run_job", "run_steps"]


def recorded_params(spec: JobSpec, painter: Painter) -> dict[str, Any]:
    """What a job's revision records of its settings (and an exported PNG carries): the
    job's, the painter's, and the job's own painter options, which win over the
    painter's defaults."""
    params = {**spec.describe(uses=uses_of(painter)), **painter.describe(), **spec.request.options}
    model = spec.request.model
    if model and model != params.get("model"):
        # The painter describes its default model: what it says of that model is not this one's.
        for key in MODEL_KEYS:
            params.pop(key, None)
        params["model"] = model
    return params


# What a painter's description says of its default model alone (a job naming another
# model records that one's name, and canvas/library/records.py its family and hash).
MODEL_KEYS = ("model", "model_kind", "model_hash", "family", "model_config", "vae", "controlnet", "controlnet_scale")
