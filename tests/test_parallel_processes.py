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

from canvas.jobs import Expand, JobSpec, WindowProgress, run_job
from canvas.jobs.pool import ProcessPool, open_pool
from canvas.painters import PaintRequest, create_painter
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
