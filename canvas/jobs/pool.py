"""Painter pools: where the windows of a job are painted, behind one small interface.

The job runner (runner.py) decides *which* windows may be painted now; a pool decides
*where*. It paints one window's pixels (`paint_window`: masks, prefill, painter, colour
match, composite) and hands the result back; the runner alone reads and commits the store.

- `ThreadPool(painters)`: in-process, one thread per painter object.
- `ProcessPool(name, options, size)`: `size` processes, each building its painter once and
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

A pool of one's own implements `PainterPool` (`size`, `describe`, `submit`, `close`) and
may carry a `profile` (`PainterProfile`: the painter's name, settings, options and native
window, for the server and the history; `profile_of` makes one from `describe` without).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from canvas.jobs.spec import TilerSettings
from canvas.jobs.watchdog import PainterTimeout, TimedPainter
from canvas.jobs.window import PaintedWindow, WindowPixels, paint_window
from canvas.painters.base import CancelToken, PaintProgress, PaintRequest, Painter, ProgressCallback, options_of

# One thread per painter process: PatchMatch and numpy are CPU-bound, and N processes each
# running N BLAS/OpenMP threads on N cores lose more to oversubscription than they gain.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_POLL = 0.05  # s between looks at the cancel token (and the clock) while a process paints
_START_TIMEOUT = 600.0  # s a painter process may take to build its painter (a model loading)


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
    samples: bool = False

    @classmethod
    def of(cls, painter: Any) -> "PainterProfile":
        return cls(name=painter.name, settings=dict(painter.describe()), options=dict(options_of(painter)),
                   native_window=getattr(painter, "native_window", None), samples=bool(getattr(painter, "samples", False)))

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
    return ProcessPool(painter_name, options, painters, timeout=timeout)


class InlinePool:
    """One painter painting in the caller's thread: `submit` returns when the window is
    painted. The runner's pool when it is given none (a job painted the way it always was)."""

    size = 1

    def __init__(self, painter: Painter) -> None:
        self.painter = painter

    def describe(self) -> dict[str, Any]:
        return self.painter.describe()

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


class _QueuedPool:
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

    def __enter__(self) -> "_QueuedPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ThreadPool(_QueuedPool):
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

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        return paint_window(task.pixels, self.painters[slot], task.request, task.settings, task.progress, task.cancel)


class ProcessPool(_QueuedPool):
    """`size` painter processes, each with its own `create_painter(name, **options)`.

    All start at once and build their painters before the pool is returned, so a bad
    option is one error here, not one per window. `threads`: BLAS/OpenMP threads each
    (None: the library default). `retries`: times a window is painted again after its
    process died under it. `timeout`: s a window may paint; a process over it is killed
    (and replaced for the next window) and the window fails with `PainterTimeout`.
    """

    def __init__(self, name: str, options: Mapping[str, Any] | None = None, size: int = 2,
                 *, threads: int | None = 1, retries: int = 2, timeout: float | None = None) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"painters must be at least 1, got {size!r}")
        self.name, self.options = name, dict(options or {})
        self.threads, self.retries, self.timeout = threads, retries, timeout
        self.restarts = 0  # processes replaced after dying mid-window
        self._context = mp.get_context("spawn")  # no fork of a threaded server (or of torch)
        self._env_lock = threading.Lock()
        workers = [self._spawn() for _ in range(size)]
        try:
            for worker in workers:
                worker.wait_ready()
        except BaseException:
            for worker in workers:
                worker.stop()
            raise
        self.workers: list[_Worker] = workers
        self.profile: PainterProfile = workers[0].profile
        super().__init__(size)

    def describe(self) -> dict[str, Any]:
        return self.profile.describe()

    def pids(self) -> list[int]:
        """The painter processes' ids (a test kills one mid-window)."""
        return [worker.process.pid for worker in self.workers if worker.process.pid is not None]

    def _spawn(self) -> "_Worker":
        with self._env_lock:  # the child copies os.environ when it starts
            saved = {var: os.environ.get(var) for var in THREAD_VARS}
            if self.threads:
                os.environ.update({var: str(self.threads) for var in THREAD_VARS})
            try:
                return _Worker(self._context, self.name, self.options)
            finally:
                for var, value in saved.items():
                    if value is None:
                        os.environ.pop(var, None)
                    else:
                        os.environ[var] = value

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        for attempt in range(self.retries + 1):
            if self._closed:
                raise PoolClosed("the painter pool closed while it painted this window")
            worker = self.workers[slot]
            if not worker.alive:  # died between windows
                worker = self._replace(slot)
            try:
                return worker.paint(task, self.timeout)
            except PainterTimeout:
                worker.stop(kill=True)  # it may never return: a fresh one paints the next window
                raise
            except PainterDied:
                # The window is painted again, from the same pixels, on a fresh process:
                # nothing of the dead one's work ever reaches the caller.
                if attempt == self.retries or self._closed:
                    raise
                self._replace(slot)
        raise AssertionError("unreachable")

    def _replace(self, slot: int) -> "_Worker":
        self.workers[slot].stop(kill=True)
        worker = self._spawn()
        try:
            worker.wait_ready()
            if self._closed:  # closed meanwhile: close() did not see this one
                raise PoolClosed("the painter pool closed while a painter process started")
        except BaseException:
            worker.stop(kill=True)
            raise
        self.workers[slot] = worker
        self.restarts += 1
        return worker

    def close(self) -> None:
        self._closed = True
        for worker in self.workers:  # a process mid-window is killed: its result is of no use now
            worker.stop()
        self._stop_dispatchers(10.0)


class _Worker:
    """One painter process and the parent's end of its pipe."""

    def __init__(self, context: Any, name: str, options: dict[str, Any]) -> None:
        self.conn, child = context.Pipe()
        self.cancel = context.Event()
        self.process = context.Process(target=_serve_process, args=(child, self.cancel, name, options),
                                       daemon=True, name=f"boundless-painter-{name}")
        self.process.start()
        child.close()
        self.profile: PainterProfile | None = None
        self.busy = False

    def wait_ready(self) -> None:
        kind, value = self._receive(None, time.monotonic() + _START_TIMEOUT)
        if kind == "error":
            self.stop(kill=True)
            raise value
        self.profile = value

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def paint(self, task: WindowTask, timeout: float | None) -> PaintedWindow:
        self.cancel.clear()
        self.busy = True
        try:
            try:
                self.conn.send((task.pixels, task.request, task.settings))
            except (BrokenPipeError, OSError) as exc:
                raise PainterDied(f"painter process {self.process.pid} is gone") from exc
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                kind, value = self._receive(task.cancel, deadline)
                if kind == "progress":
                    task.progress(value)
                elif kind == "done":
                    return value
                else:
                    raise value
        finally:
            self.busy = False

    def _receive(self, cancel: CancelToken | None, deadline: float | None) -> tuple[str, Any]:
        while True:
            if cancel is not None and cancel.cancelled:
                self.cancel.set()  # the painter polls its token between steps
            try:
                if self.conn.poll(_POLL):
                    return self.conn.recv()
            except (EOFError, OSError) as exc:
                raise PainterDied(f"painter process {self.process.pid} ended mid-window") from exc
            if not self.process.is_alive() and not self.conn.poll(0):
                raise PainterDied(f"painter process {self.process.pid} ended mid-window (exit code {self.process.exitcode})")
            if deadline is not None and time.monotonic() > deadline:
                raise PainterTimeout("a painter process took longer than allowed for one window")

    def stop(self, kill: bool = False) -> None:
        """End the process: politely when it is idle, at once when it paints (or `kill`)."""
        if self.process.is_alive() and not kill and not self.busy:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class _EventToken(CancelToken):
    """A CancelToken over a multiprocessing event (the parent sets it)."""

    def __init__(self, event: Any) -> None:
        self._event = event


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives the pipe, else a RuntimeError that tells what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _serve_process(conn: Any, cancel_event: Any, name: str, options: dict[str, Any]) -> None:
    """A painter process: build the painter once, then paint windows until told to stop."""
    # Ctrl+C in a terminal reaches the whole process group: the parent cancels its job and
    # closes the pool; a child that died of it would only be replaced and paint again.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from canvas.painters import create_painter

    try:
        painter = create_painter(name, **options)
        conn.send(("ready", PainterProfile.of(painter)))
    except BaseException as exc:
        conn.send(("error", _portable(exc)))
        return
    cancel = _EventToken(cancel_event)

    def progress(report: PaintProgress) -> None:
        conn.send(("progress", report))

    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if item is None:
            return
        pixels, request, settings = item
        try:
            result: tuple[str, Any] = ("done", paint_window(pixels, painter, request, settings, progress, cancel))
        except Exception as exc:
            result = ("error", _portable(exc))
        conn.send(result)


__all__ = [
    "InlinePool", "PainterDied", "PainterPool", "PainterProfile", "PainterTimeout", "PoolClosed", "ProcessPool",
    "THREAD_VARS", "ThreadPool", "WindowTask", "open_pool", "profile_of",
]
