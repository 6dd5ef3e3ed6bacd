"""What the job path adds to one window of a painter: interleaved rounds, median and spread.

A round paints the same window three ways, back to back: the painter alone (`paint` on
the very image, mask and request the job hands it), the library's own call where there is
one (diffusers' pipeline with the same settings), and a one-window job through `run_job`
(store, masks, prefill, colour match, composite, commit). Each round gives one overhead
per baseline, job over that round's baseline: neighbours in time share the machine's load,
so a slow minute slows both sides of a ratio, where the best of N of each side picks its
two figures from different minutes (which printed 2%, then 6% or 13%, for the same code).
The median of at least five rounds is the figure; min, max and the quartiles its spread.

Every time is taken twice: wall clock, and this process's CPU time (`cpu_` figures),
which other processes on a shared machine barely move; the path's waits (SQLite's fsync)
show only in the wall clock.

A family is measured by handing `measure` a factory of its `Subject`:

    figures = measure(lambda: Subject("sd1", painter, request, pipeline_call=call), rounds=5)
    figures["overhead_pct_median"], figures["overhead_pct_min"], figures["overhead_pct_max"]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from common import photo_like

from canvas.jobs import Expand, JobSpec, TilerSettings, run_job
from canvas.painters import CancelToken, PaintRequest
from canvas.store import Store

MIN_ROUNDS = 5


@dataclass
class Subject:
    """One configuration to measure: a painter and what the job asks of it."""

    name: str
    painter: Any  # a canvas.painters Painter
    request: PaintRequest
    window: int = 512
    # The library's own call painting (image, mask) with the request's settings, e.g.
    # diffusers' pipeline; None: only the painter alone is a baseline.
    pipeline_call: Callable[[np.ndarray, np.ndarray], Any] | None = None
    # Called before every painter, pipeline and job run: resets what a new job would not
    # have yet (the painter's prompt cache: a job encodes its prompt once, as a pipeline
    # call does every time).
    fresh: Callable[[], None] = lambda: None
    note: str = ""  # the settings, printed beside the figures


@dataclass
class Times:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, run: Callable[[], Any]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)


def overhead_stats(baseline: list[float], job: list[float], prefix: str = "overhead_pct") -> dict[str, float | int]:
    """Per-round overheads (job over the same round's baseline, in %) summarised: the
    median, min, max and quartiles (inclusive method: within min..max)."""
    if len(baseline) != len(job) or not baseline:
        raise ValueError(f"need as many job times as baseline times, at least one: {len(baseline)} vs {len(job)}")
    if min(baseline) <= 0:
        raise ValueError("baseline times must be positive")
    pcts = [100 * (j / b - 1) for b, j in zip(baseline, job)]
    q1, _, q3 = statistics.quantiles(pcts, n=4, method="inclusive") if len(pcts) > 1 else (pcts[0],) * 3
    return {
        f"{prefix}_median": round(statistics.median(pcts), 2),
        f"{prefix}_min": round(min(pcts), 2),
        f"{prefix}_max": round(max(pcts), 2),
        f"{prefix}_q1": round(q1, 2),
        f"{prefix}_q3": round(q3, 2),
    }


class _Recording:
    """The painter as a job sees it, keeping the last window it was handed."""

    def __init__(self, painter: Any) -> None:
        self._painter = painter
        self.calls: list[tuple[np.ndarray, np.ndarray, PaintRequest]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._painter, name)

    def paint(self, image, mask, request, progress, cancel):
        self.calls.append((image.copy(), np.asarray(mask, bool).copy(), request))
        return self._painter.paint(image, mask, request, progress, cancel)


def _job_times(times: Times, painter: Any, request: PaintRequest, window: int, fresh: Callable[[], None]) -> None:
    """One job into `times`: growing a picture down by a quarter window, exactly one
    window. The store is made outside the clocks (a job's canvas exists before it)."""
    with tempfile.TemporaryDirectory() as folder, Store.open(Path(folder) / "bench.canvas") as store:
        store.import_image(photo_like(window * 3 // 4, window), 0, 0)
        spec = JobSpec(Expand(down=window // 4), request=request, tiler=TilerSettings(window=window))
        fresh()
        result: list[Any] = []
        times.add(lambda: result.append(run_job(store, painter, spec)))
        assert result[0].status == "done" and result[0].windows_done == 1, result[0]


def rounds(subject: Subject, count: int = MIN_ROUNDS) -> dict[str, Times]:
    """`count` interleaved rounds of painter alone, pipeline (if any), job; after one
    warm-up job (kernels built for these shapes, the window captured)."""
    if count < 1:
        raise ValueError("need at least one round")
    recording = _Recording(subject.painter)
    _job_times(Times(), recording, subject.request, subject.window, subject.fresh)  # warm-up, and the window
    image, mask, request = recording.calls[-1]
    times = {"painter": Times(), "job": Times()}
    if subject.pipeline_call is not None:
        times["pipeline"] = Times()
        subject.pipeline_call(image, mask)  # its own warm-up
    for _ in range(count):
        subject.fresh()
        times["painter"].add(lambda: subject.painter.paint(image, mask, request, lambda p: None, CancelToken()))
        if subject.pipeline_call is not None:
            subject.fresh()
            times["pipeline"].add(lambda: subject.pipeline_call(image, mask))
        _job_times(times["job"], subject.painter, subject.request, subject.window, subject.fresh)
    return times


def summarise(times: dict[str, Times]) -> dict[str, float | int]:
    """Overheads of the job over each baseline, wall and CPU time, and the median times."""
    figures: dict[str, float | int] = {"rounds": len(times["job"].wall)}
    for baseline, prefix in (("painter", "overhead_pct"), ("pipeline", "pipeline_overhead_pct")):
        if baseline in times:
            figures.update(overhead_stats(times[baseline].wall, times["job"].wall, prefix))
            figures.update(overhead_stats(times[baseline].cpu, times["job"].cpu, "cpu_" + prefix))
    for kind, measured in times.items():
        figures[f"{kind}_s_median"] = round(statistics.median(measured.wall), 3)
    return figures


def measure(make: Callable[[], Subject], count: int = MIN_ROUNDS) -> dict[str, Any]:
    """Build a subject with `make` (a family's painter factory) and measure it."""
    subject = make()
    figures: dict[str, Any] = {"name": subject.name, "note": subject.note}
    figures.update(summarise(rounds(subject, count)))
    return figures
