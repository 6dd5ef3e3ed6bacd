"""Painter processes: the same pixels as painting in order, and a process killed in the
middle of a window is replaced and the window painted again, whole."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace

import numpy as np
import pytest
from pictures import photo

from canvas.jobs import Expand, JobSpec, TilerSettings, WindowProgress, run_job
from canvas.jobs.pool import PainterTimeout, WindowTask, open_pool
from canvas.jobs.process_pool import ProcessPool
from canvas.jobs.window import WindowPixels
from canvas.painters import CancelToken, Cancelled, PaintRequest, create_painter
from canvas.store import Store
from tiler.rect import Rect

WIDE = Rect(-64, 0, 1152, 512)
SPEC = JobSpec(Expand(left=64, right=64), request=PaintRequest(seed=11))  # two windows, apart


def _wide_canvas() -> Store:
    store = Store.open(":memory:")
    store.import_image(np.hstack([photo("astronaut"), photo("astronaut")[:, ::-1]]), 0, 0)
    return store


def _paint(spec: JobSpec, painter=None, pool=None, on_event=None) -> np.ndarray:
    with _wide_canvas() as store:
        result = run_job(store, painter, spec, pool=pool, on_event=on_event)
        assert result.status == "done" and [w.after for w in result.windows] == [(), ()]
        return store.read(0, WIDE)


def _gone(pids: list[int]) -> bool:
    alive = {child.pid for child in multiprocessing.active_children()}
    return not alive & set(pids)


@pytest.fixture(scope="module")
def sequential() -> np.ndarray:
    return _paint(SPEC, create_painter("patchmatch"))


def test_two_patchmatch_processes_paint_the_sequential_pixels_and_end_with_the_pool(sequential):
    pool = open_pool("patchmatch", {}, painters=2)
    try:
        assert isinstance(pool, ProcessPool) and pool.size == 2
        pids = pool.pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        assert pool.describe() == create_painter("patchmatch").describe()
        assert np.array_equal(_paint(SPEC, pool=pool), sequential)
    finally:
        pool.close()
    assert _gone(pids)


def test_a_tiny_diffusion_pipeline_in_a_painter_process_paints_the_pixels_it_paints_here(tmp_path_factory):
    # The child builds its painter from the options alone (model folder, fp32, offline), as
    # `serve --painter diffusion --painters N` does, and paints both windows of the job.
    from tiny_models import TinyModels

    models = TinyModels.shared(tmp_path_factory)
    options = {"model": str(models.folder("sd-inpaint")), "dtype": "fp32", "offline": True}
    spec = replace(SPEC, request=PaintRequest(seed=11, steps=2, guidance=1.0))
    expected = _paint(spec, models.painter("sd-inpaint"))
    with ProcessPool("diffusion", options, size=1) as pool:
        assert pool.describe()["model"] == options["model"]
        assert np.array_equal(_paint(spec, pool=pool), expected)


def test_a_bad_painter_option_is_one_error_and_leaves_no_process():
    before = {child.pid for child in multiprocessing.active_children()}
    with pytest.raises(ValueError, match="patch size"):
        ProcessPool("patchmatch", {"patch_size": 99}, size=2)
    assert {child.pid for child in multiprocessing.active_children()} <= before


def test_a_painter_process_killed_mid_window_is_replaced_and_the_window_painted_again(sequential):
    # Two candidates a window: PatchMatch reports the first one done with the second to go,
    # the middle of the window. Candidate 0 is the one a single-candidate job paints.
    spec = replace(SPEC, request=replace(SPEC.request, candidates=2))
    starts: dict[int, int] = {}
    killed: list[int] = []
    pool = ProcessPool("patchmatch", {}, size=2)

    def on_event(event):
        if isinstance(event, WindowProgress):
            starts[event.window] = starts.get(event.window, 0) + (event.step == 1)
            if not killed:  # once: every painter process, each in the middle of a window
                killed.extend(pool.pids())
                for pid in killed:
                    os.kill(pid, signal.SIGKILL)

    try:
        painted = _paint(spec, pool=pool, on_event=on_event)
        assert pool.restarts >= 1 and not set(killed) & set(pool.pids())
        assert max(starts.values()) == 2  # a window began again on a fresh process...
        assert np.array_equal(painted, sequential)  # ...and only its whole second painting reached the canvas
        pids = pool.pids()
    finally:
        pool.close()
    assert _gone(pids + killed)


def test_a_window_over_the_time_limit_kills_its_process_and_fails_the_job_alone(sequential):
    pool = ProcessPool("patchmatch", {}, size=1, timeout=0.01)  # no PatchMatch window is that fast
    try:
        [first] = pool.pids()
        with _wide_canvas() as store:
            with pytest.raises(PainterTimeout):
                run_job(store, None, SPEC, pool=pool)
            assert store.history()[-1].status == "failed" and store.history()[-1].info["windows"] == 0
        assert first not in pool.pids() or not _alive(first)
        pool.timeout = None  # the next window gets a fresh process, and time enough
        assert np.array_equal(_paint(SPEC, pool=pool), sequential)
        assert pool.restarts == 1
        pids = pool.pids()
    finally:
        pool.close()
    assert _gone(pids + [first])


def _alive(pid: int) -> bool:
    return any(child.pid == pid for child in multiprocessing.active_children())


def test_cancel_reaches_the_painter_process_between_its_steps():
    rgba = np.zeros((512, 512, 4), np.uint8)
    rgba[:, :256, :3], rgba[:, :256, 3] = photo("astronaut")[:, :256], 255
    known = rgba[..., 3] == 255
    pixels = WindowPixels(rgba=rgba, known=known, fill=~known, outside_known=np.zeros((514, 514), bool))
    cancel = CancelToken()
    reports = []

    def progress(report):
        reports.append(report.step)
        cancel.cancel()  # after the first of three candidates

    with ProcessPool("patchmatch", {}, size=1) as pool:
        future = pool.submit(WindowTask(pixels, PaintRequest(candidates=3), TilerSettings(), progress, cancel))
        assert isinstance(future.exception(timeout=120), Cancelled)
        assert reports[0] == 1 and len(reports) < 3  # the third candidate was never painted
