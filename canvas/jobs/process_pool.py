"""Painter processes: `size` processes on this machine, each building its painter once.

Progress and previews come back through a pipe; cancel reaches the process through an
event its painter polls between steps. A process that dies mid-window is replaced and the
window is painted again on the new one: the caller only ever sees whole results. The pool
interface and the in-process pools are in pool.py.

    with ProcessPool("patchmatch", {}, size=2) as pool:
        run_job(store, None, spec, pool=pool)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from typing import Any, Mapping

from canvas.jobs.pool import THREAD_VARS, PainterDied, PainterProfile, PoolClosed, WindowTask, QueuedPool, portable
from canvas.jobs.watchdog import PainterTimeout
from canvas.jobs.window import PaintedWindow, paint_window
from canvas.painters.base import CancelToken, PaintProgress

_POLL = 0.05  # s between looks at the cancel token (and the clock) while a process paints
_START_TIMEOUT = 600.0  # s a painter process may take to build its painter (a model loading)


class ProcessPool(QueuedPool):
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
        conn.send(("error", portable(exc)))
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
            result = ("error", portable(exc))
        conn.send(result)



__all__ = ["ProcessPool"]
