"""Painter pools: where the windows of a job are painted, behind one small interface.

The job runner (runner.py) decides *which* windows may be painted now; a pool decides
*where*. It paints one window's pixels (`paint_window`: masks, prefill, painter, colour
match, composite) and hands the result back; the runner alone reads and commits the store.

- `ThreadPool(painters)`: in-process, one thread per painter object. One painter is the
  sequential case (the CLI's default, the server's default).
- `ProcessPool(name, options, size)`: `size` processes, each building its painter once and
  keeping it. Progress and previews come back through a pipe; cancel reaches the process
  through an event its painter polls between steps. A process that dies mid-window is
  replaced and the window is painted again on the new one: the caller only ever sees
  whole results.

    with ProcessPool("patchmatch", {}, size=2) as pool:
        run_job(store, None, spec, pool=pool)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from canvas.jobs.spec import TilerSettings
from canvas.jobs.window import PaintedWindow, WindowPixels, paint_window
from canvas.painters.base import CancelToken, Cancelled, PaintProgress, PaintRequest, Painter, ProgressCallback

# One thread per painter process: PatchMatch and numpy are CPU-bound, and N processes each
# running N BLAS/OpenMP threads on N cores lose more to oversubscription than they gain.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_POLL = 0.05  # s between looks at the cancel token while a process paints


@dataclass
class WindowTask:
    """One window to paint: everything a painter needs, nothing of the store."""

    pixels: WindowPixels
    request: PaintRequest
    settings: TilerSettings
    progress: ProgressCallback
    cancel: CancelToken


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


class _QueuedPool:
    """Tasks wait in one FIFO queue; each of `size` dispatcher threads takes the next."""

    size: int

    def __init__(self, size: int) -> None:
        self.size = size
        self._tasks: queue.Queue[tuple[WindowTask, Future] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._serve, args=(n,), daemon=True, name=f"boundless-painter-{n}")
                         for n in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, task: WindowTask) -> "Future[PaintedWindow]":
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
            except BaseException as exc:
                future.set_exception(exc)

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        raise NotImplementedError

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> "_QueuedPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ThreadPool(_QueuedPool):
    """In-process painters, one thread each (they must not share state across threads)."""

    def __init__(self, painters: Sequence[Painter]) -> None:
        if not painters:
            raise ValueError("a pool needs at least one painter")
        self.painters = list(painters)
        super().__init__(len(self.painters))

    def describe(self) -> dict[str, Any]:
        return self.painters[0].describe()

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        return paint_window(task.pixels, self.painters[slot], task.request, task.settings, task.progress, task.cancel)


class PainterDied(RuntimeError):
    """A painter process ended without an answer (killed, out of memory, crashed)."""


class ProcessPool(_QueuedPool):
    """`size` painter processes, each with its own `create_painter(name, **options)`."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None, size: int = 2,
                 *, threads: int | None = 1, retries: int = 2) -> None:
        if size < 1:
            raise ValueError(f"painters must be at least 1, got {size}")
        self.name, self.options = name, dict(options or {})
        self.threads, self.retries = threads, retries
        self._context = mp.get_context("spawn")  # no fork of a threaded server (or of torch)
        self._env_lock = threading.Lock()
        self.workers: list[_Worker | None] = [None] * size
        self._describe: dict[str, Any] | None = None
        super().__init__(size)

    def describe(self) -> dict[str, Any]:
        if self._describe is None:
            self._describe = self._worker(0).describe()
        return self._describe

    def _worker(self, slot: int) -> "_Worker":
        worker = self.workers[slot]
        if worker is None or not worker.alive:
            with self._env_lock:  # the child copies os.environ when it starts
                saved = {var: os.environ.get(var) for var in THREAD_VARS}
                if self.threads:
                    os.environ.update({var: str(self.threads) for var in THREAD_VARS})
                try:
                    worker = _Worker(self._context, self.name, self.options)
                finally:
                    for var, value in saved.items():
                        if value is None:
                            os.environ.pop(var, None)
                        else:
                            os.environ[var] = value
            self.workers[slot] = worker
        return worker

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        for attempt in range(self.retries + 1):
            worker = self._worker(slot)
            try:
                return worker.paint(task)
            except PainterDied:
                # The window is painted again, from the same pixels, on a fresh process:
                # nothing of the dead one's work ever reaches the caller.
                if attempt == self.retries:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        super().close()
        for worker in self.workers:
            if worker is not None:
                worker.stop()


class _Worker:
    """One painter process and the parent's end of its pipe."""

    def __init__(self, context: Any, name: str, options: dict[str, Any]) -> None:
        self.conn, child = context.Pipe()
        self.cancel = context.Event()
        self.process = context.Process(target=_serve_process, args=(child, self.cancel, name, options),
                                       daemon=True, name=f"boundless-painter-{name}")
        self.process.start()
        child.close()
        kind, value = self._receive(None)
        if kind == "error":
            self.stop()
            raise value
        self._describe: dict[str, Any] = value

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def describe(self) -> dict[str, Any]:
        return self._describe

    def paint(self, task: WindowTask) -> PaintedWindow:
        self.cancel.clear()
        try:
            self.conn.send((task.pixels, task.request, task.settings))
        except (BrokenPipeError, OSError) as exc:
            raise PainterDied(f"painter process {self.process.pid} is gone") from exc
        while True:
            kind, value = self._receive(task.cancel)
            if kind == "progress":
                task.progress(value)
            elif kind == "done":
                return value
            else:
                raise value

    def _receive(self, cancel: CancelToken | None) -> tuple[str, Any]:
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

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


class _EventToken(CancelToken):
    """A CancelToken over a multiprocessing event (the parent sets it)."""

    def __init__(self, event: Any) -> None:
        self._event = event


def _serve_process(conn: Any, cancel_event: Any, name: str, options: dict[str, Any]) -> None:
    """A painter process: build the painter once, then paint windows until told to stop."""
    from canvas.painters import create_painter

    try:
        painter = create_painter(name, **options)
    except BaseException as exc:
        conn.send(("error", exc))
        return
    conn.send(("ready", painter.describe()))
    cancel = _EventToken(cancel_event)

    def progress(report: PaintProgress) -> None:
        conn.send(("progress", report))

    while (item := conn.recv()) is not None:
        pixels, request, settings = item
        try:
            conn.send(("done", paint_window(pixels, painter, request, settings, progress, cancel)))
        except Cancelled as exc:
            conn.send(("error", exc))
        except Exception as exc:
            try:
                conn.send(("error", exc))
            except Exception:  # an exception that does not pickle
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


__all__ = ["PainterDied", "PainterPool", "ProcessPool", "THREAD_VARS", "ThreadPool", "WindowTask"]
