"""Painter pools: where the windows of a job are painted, behind one small interface.

The job runner (runner.py) decides *which* windows may be painted now; a pool decides
*where*. It paints one window's pixels (`paint_window`: masks, prefill, painter, colour
match, composite) and hands the result back; the runner alone reads and commits the store.

- `ThreadPool(painters)`: in-process, one thread per painter object.
- `ProcessPool(name, options, size)` (canvas/jobs/process_pool.py): `size` processes, each building its painter once and
  keeping it, each with one BLAS/OpenMP thread. Progress and previews come back through a
  pipe; cancel reaches the process through an event its painter polls between steps. A
  process that dies mid-window is replaced and the window is painted again on the new
  one: the caller only ever sees whole results.
- `RayPool(name, options, size, address)` (canvas/jobs/ray_pool.py): painter actors on a
  Ray cluster, imported only when asked for.

`open_pool` picks one of them; every pool paints tasks in the order they were submitted,
so jobs that each keep at most `size` windows in flight take turns window by window.

    pool = open_pool("patchmatch", {}, painters=2)
    try:
        run_job(store, None, spec, pool=pool)
    finally:
        pool.close()

A pool of one's own implements `PainterPool` (`size`, `describe`, `submit`, `close`), may
have `prepare(request, progress, cancel)` (the runner calls it from the job's thread before
the job's windows: the in-process pools let a painter with models load the job's one there,
not on the painter thread other jobs' windows wait for; a cancel ends the wait at once) and may carry a `profile`
(`PainterProfile`: the painter's name, settings, options, native window, the settings it
uses, their defaults and its label, for the server and the history; `profile_of` makes
one from `describe` without).
"""

from __future__ import annotations

import pickle
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from canvas.jobs.spec import TilerSettings
from canvas.jobs.watchdog import PainterTimeout, TimedPainter
from canvas.jobs.window import PaintedWindow, WindowPixels, paint_window
from canvas.painters.base import (SAMPLING_DEFAULTS, SETTINGS, CancelToken, PaintRequest, Painter, ProgressCallback,
                                  defaults_of, label_of, options_of, uses_of)

# One thread per painter process: PatchMatch and numpy are CPU-bound, and N processes each
# running N BLAS/OpenMP threads on N cores lose more to oversubscription than they gain.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class PainterDied(RuntimeError):
    """A painter process ended without an answer (killed, out of memory, crashed) too often."""


class PoolClosed(RuntimeError):
    """The pool was closed before it painted this window."""


@dataclass
class WindowTask:
    """One window to paint: everything a painter needs, nothing of the store."""

    pixels: WindowPixels
    request: PaintRequest
    settings: TilerSettings
    progress: ProgressCallback  # called from whichever thread the pool paints or relays on
    cancel: CancelToken


@dataclass(frozen=True)
class PainterProfile:
    """What the canvas server and the history read of a painter that paints elsewhere
    (another process, a Ray actor): everything of `Painter` but `paint`. Picklable."""

    name: str
    settings: dict[str, Any]  # its describe()
    options: Mapping[str, Any] = field(default_factory=dict)  # its OPTIONS
    native_window: int | None = None
    uses: tuple[str, ...] = SETTINGS  # which of prompt, negative prompt, steps, guidance, strength it reads
    defaults: Mapping[str, Any] = field(default_factory=lambda: dict(SAMPLING_DEFAULTS))  # steps, guidance, strength
    label: str | None = None  # its human name
    family: Any = None  # the diffusion painter's model family (families.Family); None for painters without a model
    embedding_files: Mapping[str, str] = field(default_factory=dict)  # textual inversions a prompt may name: {name: file}

    @classmethod
    def of(cls, painter: Any) -> "PainterProfile":
        return cls(name=painter.name, settings=dict(painter.describe()), options=dict(options_of(painter)),
                   native_window=getattr(painter, "native_window", None),
                   uses=uses_of(painter), defaults=defaults_of(painter), label=label_of(painter),
                   family=getattr(painter, "family", None), embedding_files=dict(getattr(painter, "embedding_files", {})))

    @property
    def OPTIONS(self) -> Mapping[str, Any]:  # noqa: N802 - the Painter protocol's spelling
        return self.options

    def describe(self) -> dict[str, Any]:
        return dict(self.settings)


def profile_of(pool: "PainterPool", name: str) -> Any:
    """The painter of `pool` (served as `name`) as records and the server read it: the
    pool's `profile` when it brings one (every pool here does; a RayPool may), else what
    its describe() says, with no options of its own and the default window."""
    return getattr(pool, "profile", None) or PainterProfile(name=name, settings=pool.describe())


class PainterPool(Protocol):
    size: int  # windows it paints at once

    def describe(self) -> dict[str, Any]:
        """The painter's settings, recorded with a revision."""
        ...

    def submit(self, task: WindowTask) -> "Future[PaintedWindow]":
        """Paint `task` on the next free painter; the future raises what painting raised."""
        ...

    def close(self) -> None:
        ...


def open_pool(painter_name: str, options: Mapping[str, Any] | None = None, painters: int = 1,
              ray: str | None = None, *, timeout: float | None = None) -> PainterPool:
    """The pool for `painters` painters named `painter_name`, built with `options`:
    Ray actors when `ray` (an address, or "auto") is given, else one in-process painter
    for 1, else that many processes. `timeout`: s one window may paint (None: no limit).
    Raises ValueError for a bad count or painter name."""
    if not isinstance(painters, int) or isinstance(painters, bool) or painters < 1:
        raise ValueError(f"painters must be a whole number of at least 1, got {painters!r}")
    options = dict(options or {})
    if ray is not None:
        from canvas.jobs.ray_pool import RayPool  # the optional extra, loaded only when asked for

        return RayPool(painter_name, options, painters, ray, timeout=timeout)
    if painters == 1:
        from canvas.painters import create_painter

        painter = create_painter(painter_name, **options)
        if timeout is not None:
            painter = TimedPainter(painter, timeout)
        return ThreadPool([painter])
    from canvas.jobs.process_pool import ProcessPool

    return ProcessPool(painter_name, options, painters, timeout=timeout)


class InlinePool:
    """One painter painting in the caller's thread: `submit` returns when the window is
    painted. The runner's pool when it is given none (a job painted the way it always was)."""

    size = 1

    def __init__(self, painter: Painter) -> None:
        self.painter = painter

    def describe(self) -> dict[str, Any]:
        return self.painter.describe()

    def prepare(self, request: PaintRequest, progress: ProgressCallback, cancel: CancelToken | None = None) -> None:
        prepare_painters([self.painter], request, progress, cancel)

    def submit(self, task: WindowTask) -> "Future[PaintedWindow]":
        future: Future[PaintedWindow] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(paint_window(task.pixels, self.painter, task.request, task.settings, task.progress, task.cancel))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


class QueuedPool:
    """Tasks wait in one FIFO queue; each of `size` dispatcher threads (one a painter)
    takes the next."""

    size: int

    def __init__(self, size: int) -> None:
        self.size = size
        self._closed = False
        self._tasks: queue.Queue[tuple[WindowTask, Future] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._serve, args=(n,), daemon=True, name=f"boundless-painter-{n}")
                         for n in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, task: WindowTask) -> "Future[PaintedWindow]":
        if self._closed:
            raise PoolClosed("the painter pool is closed")
        future: Future[PaintedWindow] = Future()
        self._tasks.put((task, future))
        return future

    def _serve(self, slot: int) -> None:
        while (item := self._tasks.get()) is not None:
            task, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._paint(slot, task))
            except BaseException as exc:  # the dispatcher outlives any window
                future.set_exception(exc)

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        raise NotImplementedError

    def _stop_dispatchers(self, timeout: float) -> None:
        """Refuse new tasks, drop the queued ones (their futures cancelled), end the threads."""
        self._closed = True
        while True:
            try:
                item = self._tasks.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].cancel()
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def close(self) -> None:
        self._stop_dispatchers(10.0)

    def __enter__(self) -> "QueuedPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ThreadPool(QueuedPool):
    """In-process painters, one thread each (a painter object is never used by two
    threads at once)."""

    def __init__(self, painters: Sequence[Painter]) -> None:
        if not painters:
            raise ValueError("a pool needs at least one painter")
        self.painters = list(painters)
        self.profile = PainterProfile.of(self.painters[0])
        super().__init__(len(self.painters))

    def describe(self) -> dict[str, Any]:
        return self.painters[0].describe()

    def prepare(self, request: PaintRequest, progress: ProgressCallback, cancel: CancelToken | None = None) -> None:
        prepare_painters(self.painters, request, progress, cancel)

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        return paint_window(task.pixels, self.painters[slot], task.request, task.settings, task.progress, task.cancel)


def prepare_painters(painters: Sequence[Any], request: PaintRequest, progress: ProgressCallback,
                     cancel: CancelToken | None = None) -> None:
    """Have in-process painters that can (`prepare`: a painter with models to load) make
    ready for a job before its windows come, in the caller's thread; Cancelled as soon as
    `cancel` is set, whatever they were waiting for."""
    for painter in {id(p): p for p in painters}.values():
        prepare = getattr(painter, "prepare", None)
        if callable(prepare):
            prepare(request, progress, cancel)


def portable(exc: BaseException) -> BaseException:
    """`exc` if it survives the pipe, else a RuntimeError that tells what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


__all__ = [
    "InlinePool", "PainterDied", "PainterPool", "PainterProfile", "PainterTimeout", "PoolClosed",
    "THREAD_VARS", "ThreadPool", "WindowTask", "open_pool", "portable", "profile_of",
]
