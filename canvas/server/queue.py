"""The job queue: jobs take turns on the painter pools, window by window.

Each served painter has a pool (canvas/jobs/pool.py): one in-process painter by default,
N processes with `serve --painters N`, Ray actors with `--ray`. A job runs in a thread of
its own, at most one job per canvas (a canvas's store has one owner, and a job plans over
what the canvas holds when it starts), up to `limits.MAX_RUNNING_JOBS` on different
canvases at once. A running job keeps at most as many windows in flight as its pool has
painters, and a pool paints windows in the order they were handed to it, so running jobs
share the painters round-robin, a window at a time: a big expansion on one canvas does
not hold back a small inpaint on another.

Painting never runs on the event loop. Jobs report what happens by posting events to the
loop (`loop.call_soon_threadsafe`), where the broadcaster turns them into messages for
every client on the canvas. A job staging candidates waits until someone on the canvas
accepts or discards (or cancels); jobs on other canvases paint on meanwhile.

Every job is recorded in its canvas file before its submitter hears `ok`, and forgotten
when it ends: a killed server reports it `interrupted` on the next start instead of
losing it (canvas/store/jobs.py). Clients take turns: the next job to start is the
oldest one of the client whose last job started longest ago, so a client with four jobs
queued does not hold back one with a single job. A window that fails or hangs fails its
job with the reason (canvas/jobs/watchdog.py); the other jobs go on.

    queue = JobQueue(canvases, {"patchmatch": painter}, on_event=broadcaster.job_event)
    queue.start(asyncio.get_running_loop())
    await queue.submit(Job(id=queue.new_id(), canvas="default", client="c1", kind="expand", spec=spec))
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from canvas.jobs import JobError, JobPlanned, JobSpec, WindowCommitted, WindowProgress, recorded_params, run_steps
from canvas.jobs.pool import PainterPool, ThreadPool
from canvas.jobs.watchdog import PainterTimeout, TimedPainter
from canvas.library import Library
from canvas.library.records import models_record
from canvas.painters import CancelToken, Painter
from canvas.server import limits
from canvas.server.canvases import Canvases
from canvas.server.errors import ApiError, conflict, storage
from canvas.server.growth import Stages
from canvas.store import StoreError
from tiler.rect import Rect


class Staged:
    """Candidates of one window waiting for a pick; the worker blocks in `wait`."""

    def __init__(self, window: int, count: int) -> None:
        self.window = window
        self.count = count
        self._answered = threading.Event()
        self.choice: int | None = None

    def answer(self, choice: int | None) -> None:
        if not self._answered.is_set():
            self.choice = choice
            self._answered.set()

    def wait(self) -> int | None:
        self._answered.wait()
        return self.choice


@dataclass(eq=False)
class Job:
    id: str
    canvas: str
    client: str
    kind: str  # expand | outpaint | inpaint | import | zoomout | grow
    spec: JobSpec | None = None
    stages: Stages | None = None  # zoomout, grow: several specs made when it runs
    level: int = 0  # the level being painted (a zoom-out's changes with its stages)
    painter: str = ""  # the served painter's name; "" is the queue's first
    auto_accept: bool = True
    image: np.ndarray | None = None  # import: RGBA pixels placed at `at`
    at: tuple[int, int] = (0, 0)
    source: str = ""
    request: dict[str, Any] = field(default_factory=dict)  # what was asked, kept in its record
    key: str = ""  # its record in the canvas file
    cancel: CancelToken = field(default_factory=CancelToken)
    state: str = "queued"  # queued | running | finished
    staged: Staged | None = None
    done: asyncio.Future | None = None  # set with the JobFinished, for whoever awaits it
    last_progress: float = 0.0


@dataclass(frozen=True)
class JobQueued:
    position: int


@dataclass(frozen=True)
class CandidatesStaged:
    window: int
    rect: Rect
    level: int
    candidates: list[np.ndarray]  # RGBA, window-sized


@dataclass(frozen=True)
class JobFinished:
    status: str  # done | cancelled | failed
    rev: int = 0
    windows: int = 0
    seconds: float = 0.0
    code: str = ""  # failed: bad_job | busy | painter_failed | out_of_memory | timeout | disk_full | read_only | io_error
    reason: str = ""
    taken_back: Rect | None = None  # a cancelled coarse-to-fine job's area (level 0): its revision is gone


Listener = Callable[[Job, Any], None]


class JobQueue:
    def __init__(self, canvases: Canvases, painters: Mapping[str, Painter], on_event: Listener,
                 window_timeout: float | None = None, pools: Mapping[str, PainterPool] | None = None,
                 library: Library | None = None) -> None:
        """`painters` by name, what jobs record of them (a `PainterProfile` for one that
        paints elsewhere); `pools` paint them (a painter without one gets a pool of itself).
        `window_timeout`: seconds one window may paint before its job fails (None: no limit)."""
        self.canvases = canvases
        self.library = library  # a job's record names its model and LoRAs with their hashes from it
        self.painters = dict(painters)
        pools = dict(pools or {})
        # A painter object paints one window at a time, each within the time limit.
        self.pools: dict[str, PainterPool] = {
            name: pools.get(name) or ThreadPool([TimedPainter(painter, window_timeout)]) for name, painter in self.painters.items()}
        self.default = next(iter(self.painters))
        self.on_event = on_event
        self.running: list[Job] = []
        self._pending: deque[Job] = deque()
        self._turns = itertools.count()
        self._served: dict[str, int] = {}  # client -> turn its last job started at
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()  # one per running job

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._dispatch, name="boundless-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs, drop what waits, let the jobs end, and close the pools."""
        with self._cond:
            self._stopping = True
            jobs = list(self._pending) + self.running
            self._pending.clear()
            self._cond.notify_all()
        for job in jobs:
            self._cancel(job)
        deadline = time.monotonic() + timeout
        for thread in [self._thread, *list(self._workers)]:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        for pool in self.pools.values():
            pool.close()

    def new_id(self) -> str:
        return f"j{next(self._ids)}"

    # -- called on the event loop ----------------------------------------------------------

    async def submit(self, job: Job) -> None:
        """Record `job` in its canvas file, then queue it; refused when the client or the
        server has too many, or when the disk refuses the record (`disk_full`, ...)."""
        self._check_room(job)
        store = self.canvases.store(job.canvas)
        try:
            job.key = await asyncio.to_thread(store.record_job, job.id, job.kind, job.client, job.request)
        except Exception as exc:
            disk = storage(exc)
            if disk is not None:
                raise disk from None
            if isinstance(exc, StoreError):  # closed: the canvas went away meanwhile
                raise conflict("busy", str(exc)) from None
            raise
        with self._cond:
            try:
                self._check_room(job)  # again: another submit may have filled the room meanwhile
            except ApiError:
                self._forget_soon(job)
                raise
            self._pending.append(job)
            position = len(self._pending)
            self._cond.notify_all()
        self.on_event(job, JobQueued(position))

    def _check_room(self, job: Job) -> None:
        with self._cond:
            mine = sum(1 for j in self.jobs() if j.client == job.client)
            if mine >= limits.MAX_QUEUED_PER_CLIENT:
                raise conflict("queue_full", f"at most {limits.MAX_QUEUED_PER_CLIENT} jobs a client may be queued or running")
            if len(self._pending) >= limits.MAX_QUEUED:
                raise conflict("queue_full", f"the server has {limits.MAX_QUEUED} jobs waiting; try again later")

    def jobs(self, canvas: str | None = None) -> list[Job]:
        """Running and queued jobs, in order, on `canvas` (or all)."""
        with self._cond:
            jobs = self.running + list(self._pending)
        return [job for job in jobs if canvas is None or job.canvas == canvas]

    def running_on(self, canvas: str) -> Job | None:
        """The job painting `canvas` now, if any (there is at most one)."""
        with self._cond:
            return next((job for job in self.running if job.canvas == canvas), None)

    def find(self, job_id: Any, canvas: str) -> Job:
        for job in self.jobs(canvas):
            if job.id == job_id:
                return job
        raise ApiError("no_job", f"no queued or running job {str(job_id)[:40]!r} on this canvas", 404)

    def cancel(self, job: Job) -> None:
        with self._cond:
            queued = job in self._pending
            if queued:
                self._pending.remove(job)
        self._cancel(job)
        if queued:
            self._forget_soon(job)
            self._finish(job, JobFinished("cancelled"))

    def pick(self, job: Job, choice: int | None) -> None:
        """Accept candidate `choice` of the staged window, or discard it (None)."""
        staged = job.staged
        if staged is None:
            raise conflict("no_candidates", f"job {job.id} has no candidates waiting")
        if choice is not None and not 0 <= choice < staged.count:
            raise ApiError("out_of_range", f"candidate must be between 0 and {staged.count - 1}, got {choice}")
        staged.answer(choice)

    def _cancel(self, job: Job) -> None:
        job.cancel.cancel()
        if job.staged is not None:
            job.staged.answer(None)

    # -- the dispatcher and the jobs' threads ------------------------------------------------

    def _dispatch(self) -> None:
        """Start every job that may start: its canvas idle, fewer than the most running."""
        while True:
            with self._cond:
                job = None
                while not self._stopping and (job := self._next()) is None:
                    self._cond.wait()
                if self._stopping or job is None:
                    return
                job.state = "running"
                self.running.append(job)
                worker = threading.Thread(target=self._work, args=(job,), name=f"boundless-job-{job.id}", daemon=True)
                self._workers.add(worker)
            worker.start()

    def _work(self, job: Job) -> None:
        try:
            finished = self._execute(job)
        except BaseException as exc:  # the server must outlive any job
            finished = JobFinished("failed", code="painter_failed", reason=_reason(exc))
        with self._cond:
            self.running.remove(job)
            self._workers.discard(threading.current_thread())
            self._cond.notify_all()
        self._forget(job)
        self._finish(job, finished)

    def _next(self) -> Job | None:
        """The oldest job of the client whose last job started longest ago, among those
        whose canvas is idle; None when none may start now (the lock is held)."""
        if len(self.running) >= limits.MAX_RUNNING_JOBS:
            return None
        busy = {job.canvas for job in self.running}
        ready = [job for job in self._pending if job.canvas not in busy]
        if not ready:
            return None
        job = min(ready, key=lambda j: self._served.get(j.client, -1))  # min keeps queue order on ties
        self._pending.remove(job)
        self._served[job.client] = next(self._turns)
        if len(self._served) > 4 * limits.MAX_QUEUED:  # forget clients with nothing waiting
            waiting = {j.client for j in self._pending} | {j.client for j in self.running} | {job.client}
            self._served = {client: turn for client, turn in self._served.items() if client in waiting}
        return job

    def _forget(self, job: Job) -> None:
        """Drop the job's record: it ended (a failing disk keeps it for the store to retry)."""
        if not job.key:
            return
        try:
            self.canvases.store(job.canvas).forget_job(job.key)
        except Exception:  # noqa: BLE001 - the store retries it before its next write
            pass

    def _forget_soon(self, job: Job) -> None:
        """`_forget` off the event loop: the store may be busy committing a window."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.run_in_executor(None, self._forget, job)

    def _execute(self, job: Job) -> JobFinished:
        started = time.perf_counter()
        try:
            store = self.canvases.store(job.canvas)
            with store.job(job.key):  # the revision it begins names its record
                if job.kind == "import":
                    return self._import(job, store, started)
                name = job.painter or self.default
                painter = self.painters[name]
                hooks: dict[str, Any] = dict(
                    pool=self.pools[name],
                    on_event=lambda event: self._relay(job, event),
                    cancel=job.cancel,
                    select=lambda index, window, painted: self._select(job, index, window.rect, painted.candidates),
                )
                if job.stages is not None:
                    specs = job.stages.build(store)
                    record = {**job.stages.record(specs[0], painter), **self._models(specs[0], painter, specs[1:])}
                    result = run_steps(store, painter, specs, kind=job.stages.kind, params=record, **hooks)
                else:
                    assert job.spec is not None
                    record = {**recorded_params(job.spec, painter), **self._models(job.spec, painter)}
                    result = run_steps(store, painter, [job.spec], params=record, **hooks)
        except JobError as exc:
            return JobFinished("failed", code="bad_job", reason=str(exc))
        except PainterTimeout as exc:
            return JobFinished("failed", code="timeout", reason=str(exc))
        except MemoryError as exc:
            return JobFinished("failed", code="out_of_memory", reason=_reason(exc))
        except Exception as exc:
            disk = storage(exc)
            if disk is not None:
                return JobFinished("failed", code=disk.code, reason=disk.message)
            if isinstance(exc, (StoreError, ApiError)):
                return JobFinished("failed", code="busy", reason=str(exc))
            code = "out_of_memory" if "OutOfMemory" in type(exc).__name__ else "painter_failed"  # torch's CUDA OOM
            return JobFinished("failed", code=code, reason=_reason(exc))
        return JobFinished(result.status, result.rev, result.windows_done, result.seconds, taken_back=result.taken_back)

    def _models(self, spec: JobSpec, painter: Any, later: list[JobSpec] | None = None) -> dict[str, Any]:
        """The job's model, LoRAs and embeddings with their hashes (A1111's "Model hash",
        "Lora hashes", "TI hashes"), those of its `later` stages' prompts too: hashing reads
        a file once, here in the job's thread."""
        return models_record(self.library, spec.request, painter, [s.request.prompt for s in later or ()])

    def _import(self, job: Job, store: Any, started: float) -> JobFinished:
        assert job.image is not None
        x, y = job.at
        rev = store.import_image(job.image, x, y, params={"source": job.source} if job.source else None)
        h, w = job.image.shape[:2]
        self._post(job, WindowCommitted(0, 1, Rect(x, y, w, h), 0, rev))
        return JobFinished("done", rev, 1, time.perf_counter() - started)

    def _relay(self, job: Job, event: Any) -> None:
        if isinstance(event, JobPlanned):
            job.level = event.level
        if isinstance(event, WindowProgress):
            # Painters may report every step; clients need a few updates a second.
            now = time.monotonic()
            if event.step < event.steps and now - job.last_progress < limits.PROGRESS_INTERVAL:
                return
            job.last_progress = now
        self._post(job, event)

    def _select(self, job: Job, index: int, rect: Rect, candidates: list[np.ndarray]) -> int | None:
        if job.auto_accept or len(candidates) == 1:
            return 0
        staged = job.staged = Staged(index, len(candidates))
        self._post(job, CandidatesStaged(index, rect, job.level, candidates))
        if job.cancel.cancelled:
            staged.answer(None)
        choice = staged.wait()
        job.staged = None
        return choice

    def _finish(self, job: Job, finished: JobFinished) -> None:
        job.state = "finished"
        self._post(job, finished)

    def _post(self, job: Job, event: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self.on_event, job, event)
            except RuntimeError:  # the loop closed in between: the server is shutting down
                pass


def _reason(exc: BaseException) -> str:
    """What went wrong, for people: the message, or the exception's name when it has none."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
