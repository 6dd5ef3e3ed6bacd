"""Painters on a Ray cluster: one actor per painter, each building its painter once.

The same interface as the pools of pool.py (the runner cannot tell them apart). The canvas
server stays the single owner of the store: an actor is sent one window's pixels and
sends back the painted candidates, nothing else. Ray is an optional extra
(`pip install 'boundless-canvas[ray]'`), imported here only, when a pool is made.

    with RayPool("diffusion", {"model": "/models/sd15"}, size=4, address="auto") as pool:
        run_job(store, None, spec, pool=pool)

- Progress and previews: an actor keeps what its painter reports; the pool's dispatcher
  thread collects it a few times a second (a second concurrency group of the actor, so
  it answers while the painter paints) and hands it to the window's progress callback.
- Cancel: the same group carries a cancel to the actor's token, which the painter polls
  between steps.
- An actor, or the node under it, that dies mid-window: the actor is replaced (Ray places
  the new one on any node with room) and the window is painted again from the same
  pixels; the caller only ever sees a whole result.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from typing import Any, Mapping

from canvas.jobs.pool import THREAD_VARS, PainterDied, PainterProfile, PoolClosed, WindowTask, QueuedPool, portable
from canvas.jobs.watchdog import PainterTimeout
from canvas.jobs.window import PaintedWindow, paint_window
from canvas.painters.base import CancelToken, PaintProgress

_POLL = 0.1  # s between collections of an actor's progress while it paints
_CONTROL = "control"  # the actor's concurrency group for progress and cancel


class RayNotInstalled(ModuleNotFoundError):
    """`--ray` was asked for but Ray is not installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayNotInstalled("painters on Ray need Ray: pip install 'boundless-canvas[ray]'") from None
    return ray


class PainterActor:
    """Lives in a Ray worker process: one painter, built once, painting one window at a time.

    Made into a Ray actor class by `_actor_class()`; `paint` runs in the default group (one
    at a time), `progress` and `cancel` in the control group, beside it.
    """

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        from canvas.painters import create_painter

        self._lock = threading.Lock()
        self._reports: list[PaintProgress] = []
        self._tokens: dict[int, CancelToken] = {}
        try:
            self._painter: Any = create_painter(name, **options)
            self._error: BaseException | None = None
        except Exception as exc:  # handed to the caller as it was raised (ModelError, ...)
            self._painter, self._error = None, exc

    def ready(self) -> tuple[str, Any]:
        if self._error is not None:
            return "error", portable(self._error)
        return "ready", PainterProfile.of(self._painter)

    def pid(self) -> int:
        import os

        return os.getpid()

    def paint(self, number: int, pixels: Any, request: Any, settings: Any) -> tuple[str, Any]:
        token = self._tokens.setdefault(number, CancelToken())  # a cancel may come first
        with self._lock:
            self._reports = []

        def progress(report: PaintProgress) -> None:
            with self._lock:
                self._reports.append(report)

        try:
            return "done", paint_window(pixels, self._painter, request, settings, progress, token)
        except Exception as exc:
            return "error", portable(exc)
        finally:
            self._tokens.pop(number, None)

    def progress(self) -> list[PaintProgress]:
        with self._lock:
            reports, self._reports = self._reports, []
        return reports

    def cancel(self, number: int) -> None:
        self._tokens.setdefault(number, CancelToken()).cancel()


class RayPool(QueuedPool):
    """`size` painter actors on the Ray cluster at `address` ("auto": the one this machine
    belongs to; "local": a new one on this machine; "HOST:6379": its head). An already
    initialised Ray (a test's, a notebook's) is used as it is and left running.

    Each actor asks Ray for `num_cpus` CPUs and `num_gpus` GPUs; `num_gpus=None` gives a
    diffusion painter one GPU when the cluster has any, and PatchMatch none. `timeout`: s a
    window may paint; an actor over it is killed (a fresh one paints the next window) and
    the window fails with PainterTimeout. `retries`: new actors a window may be painted
    on after the one painting it died.
    """

    def __init__(self, name: str, options: Mapping[str, Any] | None = None, size: int = 2,
                 address: str = "auto", *, num_cpus: float = 1, num_gpus: float | None = None,
                 threads: int | None = 1, retries: int = 2, timeout: float | None = None,
                 start_timeout: float = 600) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"painters must be at least 1, got {size!r}")
        ray = self._ray = import_ray()
        self.name, self.options, self.address, self.retries = name, dict(options or {}), address, retries
        self.timeout, self.start_timeout = timeout, start_timeout  # start: placed and its painter built
        self.restarts = 0  # actors replaced after dying mid-window
        self._closed = False
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as exc:
                if isinstance(exc.__cause__, ray.exceptions.AuthenticationError):
                    raise ConnectionError(f"the Ray cluster at {address!r} wants its token: set RAY_AUTH_MODE=token, "
                                          f"and RAY_AUTH_TOKEN unless ~/.ray/auth_token holds it") from None
                raise ConnectionError(f"no Ray cluster at {address!r} ({exc}); start one with `boundless worker --head`, "
                                      f"or use 'local' for one on this machine only") from None
        if num_gpus is None:
            num_gpus = 1 if name == "diffusion" and ray.cluster_resources().get("GPU", 0) >= 1 else 0
        _check_room(ray, size, num_cpus, num_gpus)
        env = {var: str(threads) for var in THREAD_VARS} if threads else {}
        self._actor_options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "runtime_env": {"env_vars": env}}
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self.actors: list[Any | None] = [self._start_actor() for _ in range(size)]
        try:
            self.profile: PainterProfile = self._ready(self.actors[0])  # a bad painter option fails here, typed
            for actor in self.actors[1:]:
                self._ready(actor)
        except BaseException:
            self._stop()
            raise
        super().__init__(size)

    def describe(self) -> dict[str, Any]:
        return self.profile.describe()

    def _start_actor(self) -> Any:
        return _actor_class().options(**self._actor_options).remote(self.name, self.options)

    def _ready(self, actor: Any) -> PainterProfile:
        try:
            kind, value = self._ray.get(actor.ready.remote(), timeout=self.start_timeout)
        except self._ray.exceptions.GetTimeoutError:
            self._kill(actor)
            raise NoRoom(f"a painter actor did not start in {self.start_timeout:g} s: the cluster has no room "
                         f"for it, or its painter is still loading (join more machines with `boundless worker`)") from None
        if kind == "error":
            raise value
        return value

    def _paint(self, slot: int, task: WindowTask) -> PaintedWindow:
        for attempt in range(self.retries + 1):
            if self._closed:
                raise PoolClosed("the painter pool closed while it painted this window")
            actor = self.actors[slot]
            if actor is None:  # killed after a time-out
                actor = self._replace(slot)
            try:
                return self._paint_on(actor, task)
            except PainterTimeout:
                self._kill(actor)  # it may never return: a fresh one paints the next window
                self.actors[slot] = None
                raise
            except PainterDied as died:
                # Painted again, from the same pixels, on a new actor: nothing of the dead
                # one's work reaches the caller.
                if attempt == self.retries or self._closed:
                    raise
                try:
                    self._replace(slot)
                except NoRoom as exc:
                    raise PainterDied(f"{died}; no replacement: {exc}") from exc
                self.restarts += 1
        raise AssertionError("unreachable")

    def _paint_on(self, actor: Any, task: WindowTask) -> PaintedWindow:
        ray = self._ray
        with self._lock:
            number = next(self._numbers)
        try:
            result = actor.paint.remote(number, task.pixels, task.request, task.settings)
            cancel_sent = False
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            while True:
                done, _ = ray.wait([result], timeout=_POLL)
                if deadline is not None and not done and time.monotonic() > deadline:
                    raise PainterTimeout("a painter actor took longer than allowed for one window")
                if task.cancel.cancelled and not cancel_sent:
                    actor.cancel.remote(number)  # the painter stops at its next step
                    cancel_sent = True
                for report in ray.get(actor.progress.remote()):
                    task.progress(report)
                if done:
                    kind, value = ray.get(result)
                    break
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
            raise PainterDied(f"painter actor {actor} died mid-window: {exc}") from exc
        if kind == "error":
            raise value
        return value

    def _replace(self, slot: int) -> Any:
        if self.actors[slot] is not None:
            self._kill(self.actors[slot])
        actor = self._start_actor()
        self._ready(actor)
        self.actors[slot] = actor
        return actor

    def _kill(self, actor: Any | None) -> None:
        if actor is None:
            return
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception:  # already gone with its node
            pass

    def close(self) -> None:
        self._closed = True
        self._stop()  # an actor mid-window is killed: its result is of no use now
        self._stop_dispatchers(10.0)

    def _stop(self) -> None:
        for actor in self.actors:
            self._kill(actor)
        if self._owns_ray:
            self._ray.shutdown()


class NoRoom(ValueError):  # more painters than the cluster can hold: a count to change
    """The cluster has too few CPUs or GPUs for the painters asked for, or found no room
    for one in `start_timeout`."""


def _check_room(ray: Any, size: int, num_cpus: float, num_gpus: float) -> None:
    """Fail now, not hang, when the cluster could never hold the painters: Ray keeps an
    actor it cannot place waiting for ever. (Room that is only busy now is waited for, up
    to `start_timeout`.)"""
    total = ray.cluster_resources()
    for resource, each in (("CPU", num_cpus), ("GPU", num_gpus)):
        if each and total.get(resource, 0) < size * each:
            raise NoRoom(f"{size} painters need {size * each:g} {resource}s on the Ray cluster, "
                         f"it has {total.get(resource, 0):g} (join more machines with `boundless worker`)")


@functools.cache
def _actor_class() -> Any:
    """PainterActor as a Ray actor class, with progress, cancel and pid in the control
    group (made once: Ray ships a class's code to the cluster once)."""
    ray = import_ray()

    class _PainterActor(PainterActor):
        progress = ray.method(concurrency_group=_CONTROL)(PainterActor.progress)
        cancel = ray.method(concurrency_group=_CONTROL)(PainterActor.cancel)
        pid = ray.method(concurrency_group=_CONTROL)(PainterActor.pid)

    return ray.remote(concurrency_groups={_CONTROL: 1})(_PainterActor)


__all__ = ["NoRoom", "PainterActor", "RayNotInstalled", "RayPool", "import_ray"]
