"""The job runner on a pool of in-process painters: windows whose neighbours are committed
paint at once, dependent ones wait, and the canvas ends as the sequential order leaves it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pictures import photo
from serving import FlatPainter

from canvas.jobs import Expand, JobSpec, WindowCommitted, WindowProgress, run_job, run_steps
from canvas.jobs.pool import InlinePool, ThreadPool
from canvas.jobs.runner import _window_seed
from canvas.painters import CancelToken, Cancelled, PaintProgress, PaintRequest, create_painter
from canvas.store import Store
from tiler.rect import Rect

EVERY_SIDE = Expand(left=512, right=512, up=512, down=512)  # 12 windows, at most 3 abreast


class Recording(FlatPainter):
    """FlatPainter that logs when it starts a window (known by its seed) into a shared log;
    `meet`: the calls, by number, that wait for each other (proof they paint at once)."""

    def __init__(self, log: list, lock: threading.Lock, meet: dict[int, threading.Barrier] | None = None,
                 fail: int | None = None) -> None:
        super().__init__()
        self.log, self.lock, self.meet, self.fail = log, lock, meet or {}, fail
        self.calls = [0]

    def paint(self, image, mask, request, progress, cancel, void=None):
        with self.lock:
            call = self.calls[0]
            self.calls[0] += 1
            self.log.append(("start", request.seed))
        if call in self.meet:
            self.meet[call].wait(timeout=60)  # broken (an error) unless both calls get here
        if self.fail is not None and request.seed == self.fail:
            raise RuntimeError("this window fails")
        progress(PaintProgress(0, 1))
        return super().paint(image, mask, request, progress, cancel, void)


def _canvas() -> Store:
    store = Store.open(":memory:")
    store.import_image(photo("astronaut"), 0, 0)
    return store


def _pixels(store: Store) -> np.ndarray:
    return store.read(0, Rect(-512, -512, 1536, 1536))


def _painters(count: int, log: list, lock: threading.Lock, **kwargs) -> list[Recording]:
    painters = [Recording(log, lock, **kwargs) for _ in range(count)]
    for painter in painters[1:]:
        painter.calls = painters[0].calls  # one numbering of calls across the pool
    return painters


def test_independent_windows_paint_at_once_and_dependent_ones_wait_for_their_commits():
    log: list = []
    lock = threading.Lock()
    with _canvas() as sequential:
        plan = run_job(sequential, FlatPainter(), JobSpec(EVERY_SIDE, request=PaintRequest(seed=3))).windows
        expected = _pixels(sequential)
    seeds = {_window_seed(3, index): index for index in range(len(plan))}
    # After window 0, windows 1 and 4 both wait on it alone: calls 1 and 2 must meet.
    assert plan[1].after == (0,) and plan[4].after == (0,)
    barrier = threading.Barrier(2)

    def on_event(event):
        if isinstance(event, WindowCommitted):
            with lock:
                log.append(("commit", event.window))

    with _canvas() as store, ThreadPool(_painters(2, log, lock, meet={1: barrier, 2: barrier})) as pool:
        result = run_job(store, None, JobSpec(EVERY_SIDE, request=PaintRequest(seed=3)), on_event=on_event, pool=pool)
        assert result.status == "done" and result.windows_done == len(plan)
        assert np.array_equal(_pixels(store), expected)
        assert store.history()[-1].info["windows"] == len(plan)

    started = [seeds[seed] for kind, seed in log if kind == "start"]
    assert sorted(started) == list(range(len(plan)))  # each window painted once
    order = [(kind, seeds[value] if kind == "start" else value) for kind, value in log]
    for index, window in enumerate(plan):
        start = order.index(("start", index))
        for earlier in window.after:
            assert order.index(("commit", earlier)) < start, f"window {index} started before window {earlier} committed"


def test_one_painter_paints_in_plan_order_as_without_a_pool():
    log: list = []
    lock = threading.Lock()
    with _canvas() as store, ThreadPool(_painters(1, log, lock)) as pool:
        result = run_job(store, None, JobSpec(EVERY_SIDE, request=PaintRequest(seed=5)), pool=pool)
    seeds = [_window_seed(5, index) for index in range(len(result.windows))]
    assert [seed for _, seed in log] == seeds


def test_patchmatch_on_two_threads_gives_the_sequential_pixels():
    wide = np.hstack([photo("astronaut"), photo("astronaut")[:, ::-1]])  # 1024 px: two windows apart
    spec = JobSpec(Expand(left=64, right=64), request=PaintRequest(seed=11))
    results = []
    for pool in (None, ThreadPool([create_painter("patchmatch"), create_painter("patchmatch")])):
        with Store.open(":memory:") as store:
            store.import_image(wide, 0, 0)
            result = run_job(store, create_painter("patchmatch") if pool is None else None, spec, pool=pool)
            results.append((result, store.read(0, Rect(-64, 0, 1152, 512)), store.history()[-1].params))
            if pool is not None:
                pool.close()
    (one, one_pixels, one_params), (two, two_pixels, two_params) = results
    assert [w.after for w in one.windows] == [(), ()]  # nothing to wait for: both paint at once
    assert np.array_equal(one_pixels, two_pixels) and (two_pixels[..., 3] == 255).all()
    assert one_params == two_params  # the pool's painter is recorded as the painter itself


def test_stages_on_a_pool_number_their_seeds_across_the_job_as_sequentially():
    steps = [JobSpec(Expand(right=512), request=PaintRequest(seed=2)), JobSpec(Expand(left=512, down=512), request=PaintRequest(seed=2))]
    pictures = []
    for pool in (InlinePool(FlatPainter()), ThreadPool([FlatPainter(), FlatPainter()])):
        with _canvas() as store:
            result = run_steps(store, None, steps, kind="grow", pool=pool)
            assert result.status == "done" and store.history()[-1].kind == "grow"
            pictures.append(_pixels(store))
        pool.close()
    assert np.array_equal(*pictures)


def test_a_failing_window_fails_the_job_keeps_committed_windows_and_commits_nothing_of_it():
    log: list = []
    lock = threading.Lock()
    fail = _window_seed(0, 4)  # window 4 paints beside window 1, after window 0
    with _canvas() as store, ThreadPool(_painters(2, log, lock, fail=fail)) as pool:
        before = _pixels(store)
        with pytest.raises(RuntimeError, match="this window fails"):
            run_job(store, None, JobSpec(EVERY_SIDE), pool=pool)
        record = store.history()[-1]
        assert record.status == "failed" and "this window fails" in record.info["error"]
        after = _pixels(store)
        window_0 = Rect(-256, -256, 512, 512).relative_to(Rect(-512, -512, 1536, 1536))
        assert (after[window_0.slices][..., 3] == 255).all()  # window 0 stays
        assert record.info["windows"] >= 1
        window_4 = Rect(256, 256, 512, 512).relative_to(Rect(-512, -512, 1536, 1536))
        new = (after[..., 3] > 0) & (before[..., 3] == 0)
        assert not new[window_4.slices][256:, 256:].any()  # nothing of the failed window


def test_candidates_are_chosen_in_the_runner_thread_and_a_discard_ends_the_job():
    picks = []
    runner = threading.get_ident()

    def select(index, window, painted):
        assert threading.get_ident() == runner  # the store's one owner commits and picks
        picks.append(index)
        return None if len(picks) == 3 else len(painted.candidates) - 1

    with _canvas() as store, ThreadPool([FlatPainter(), FlatPainter()]) as pool:
        spec = JobSpec(EVERY_SIDE, request=PaintRequest(candidates=2))
        result = run_job(store, None, spec, select=select, pool=pool)
        assert result.status == "cancelled" and result.windows_done == 2 and len(picks) == 3
        assert store.history()[-1].info["windows"] == 2


def test_cancel_stops_windows_waiting_for_a_painter_and_keeps_whole_ones():
    cancel = CancelToken()
    seen = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, WindowCommitted) and event.window == 0:
            cancel.cancel()

    with _canvas() as store, ThreadPool([FlatPainter(delay=0.05), FlatPainter(delay=0.05)]) as pool:
        result = run_job(store, None, JobSpec(EVERY_SIDE), on_event=on_event, cancel=cancel, pool=pool)
        assert result.status == "cancelled" and 1 <= result.windows_done < 12
        assert store.history()[-1].status == "cancelled"
    assert any(isinstance(event, WindowProgress) for event in seen)  # relayed from the painters' threads


def test_a_cancelled_window_inside_a_painter_ends_the_job_as_cancelled():
    class Stops(FlatPainter):
        def paint(self, image, mask, request, progress, cancel, void=None):
            raise Cancelled()

    with _canvas() as store, ThreadPool([Stops(), Stops()]) as pool:
        assert run_job(store, None, JobSpec(EVERY_SIDE), pool=pool).status == "cancelled"


def test_two_tiny_diffusion_pipelines_paint_the_sequential_pixels(tmp_path_factory):
    pytest.importorskip("torch")
    from tiny_models import TinyModels

    models = TinyModels.shared(tmp_path_factory)
    options = {"model": str(models.folder("sd-inpaint")), "dtype": "fp32", "offline": True}
    wide = np.hstack([photo("astronaut"), photo("astronaut")[:, ::-1]])
    spec = JobSpec(Expand(left=64, right=64), request=PaintRequest(seed=8, steps=2, guidance=1.0))
    first, second = create_painter("diffusion", **options), create_painter("diffusion", **options)
    pictures = []
    for painter, pool in ((first, None), (None, ThreadPool([first, second]))):
        with Store.open(":memory:") as store:
            store.import_image(wide, 0, 0)
            assert run_job(store, painter, spec, pool=pool).status == "done"
            pictures.append(store.read(0, Rect(-64, 0, 1152, 512)))
        if pool is not None:
            pool.close()
    assert np.array_equal(*pictures)
