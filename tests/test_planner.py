"""The window planner: every plan is checked by replaying it pixel by pixel."""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiler._plan_cells import Cells, Paint, Table, sat
from tiler.planner import Window, critical_path, plan_windows
from tiler.rect import Rect


def _load_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "planner.py"
    spec = importlib.util.spec_from_file_location("bench_planner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def replay(known, target, area, plan, *, window=512, min_side=512, context=0.25):
    """Check every rule of the plan independently, at pixel level; return it."""
    known, target = np.asarray(known, bool), np.asarray(target, bool)
    given_context = known & ~target  # known and target counts as to be painted
    painted = np.zeros_like(target)
    for k, win in enumerate(plan):
        r = win.rect
        assert area.contains(r), (k, r)
        assert (r.x - area.x) % 8 == 0 and (r.y - area.y) % 8 == 0, (k, r)
        for side in (r.w, r.h):
            assert side % 64 == 0 and min_side <= side <= window, (k, r)
        sl = r.relative_to(area).slices
        new = int(np.count_nonzero(target[sl] & ~painted[sl]))
        assert new == win.new_px > 0, (k, r)
        have = int(np.count_nonzero(given_context[sl] | painted[sl]))
        assert win.context == pytest.approx(have / r.area, abs=1e-12), (k, r)
        assert win.context_ok == (have / r.area >= context - 1e-9), (k, r)
        earlier = tuple(e for e in range(k) if plan[e].rect.intersects(r.grow(1)))
        assert win.after == earlier, (k, r)
        painted[sl] |= target[sl]
    assert np.array_equal(painted, target), "some target pixel is not covered"
    return plan


def bench_task(name):
    known, target, area = bench.TASKS[name]()
    plan = plan_windows(known, target, area)
    return replay(known, target, area, plan), known, target, area


def figures(plan):
    processed = sum(w.rect.area for w in plan)
    return processed / (sum(w.new_px for w in plan) / 0.75)


# ---------------------------------------------------------------- the benchmark tasks


def test_t1_one_window_beside_the_image():
    plan, *_ = bench_task("T1 +256 right")
    assert [w.rect for w in plan] == [Rect(256, 0, 512, 512)]
    assert plan[0].context == 0.5


def test_t2_grows_on_all_sides_in_four_touching_windows():
    plan, *_ = bench_task("T2 +256 all sides")
    assert len(plan) == 4
    # The four quadrants touch: each reads the ring its neighbours paint, so they chain.
    assert all(w.context_ok and w.after == tuple(range(k)) for k, w in enumerate(plan))
    assert critical_path(plan) == 4


@pytest.mark.parametrize("name", ["T3 +1024 down", "T4 to 2048 square"])
def test_large_growth_stays_near_the_bound(name):
    plan, *_ = bench_task(name)
    assert all(w.context_ok for w in plan)
    assert figures(plan) <= 1.15


def test_t5_three_small_holes_get_three_small_windows():
    plan, *_ = bench_task("T5 three holes")
    assert len(plan) == 3
    assert all(w.rect.w == w.rect.h == 512 and w.new_px == 100 * 100 for w in plan)
    assert critical_path(plan) == 1


def test_small_holes_stay_small_with_large_windows_allowed():
    known, target, area = bench.TASKS["T5 three holes"]()
    plan = plan_windows(known, target, area, window=1024)
    replay(known, target, area, plan, window=1024)
    assert [(w.rect.w, w.rect.h) for w in plan] == [(512, 512)] * 3


def test_a_hole_gets_context_all_around():
    area = Rect(0, 0, 2048, 2048)
    known = np.ones((area.h, area.w), bool)
    target = np.zeros_like(known)
    target[1000:1100, 900:1000] = True
    [win] = plan_windows(known & ~target, target, area)
    # centred on the hole, to the 8 px grid
    assert abs(win.rect.x + 256 - 950) <= 8 and abs(win.rect.y + 256 - 1050) <= 8


def test_large_windows_may_be_rectangles():
    known, target, area = bench.TASKS["T3 +1024 down"]()
    plan = replay(known, target, area, plan_windows(known, target, area, window=1024), window=1024)
    assert any(w.rect.w != w.rect.h for w in plan)
    known, target, area = bench.TASKS["T4 to 2048 square"]()
    plan = replay(known, target, area, plan_windows(known, target, area, window=1024), window=1024)
    assert len(plan) == 5 and figures(plan) == 1.0


# ---------------------------------------------------------------- best effort


def test_a_tiny_image_grown_far_is_planned_with_the_first_window_flagged():
    image = Rect(0, 0, 100, 100)
    grown = image.grow(500)
    area = grown.grow(512)
    known = np.zeros((area.h, area.w), bool)
    known[image.relative_to(area).slices] = True
    target = np.zeros_like(known)
    target[grown.relative_to(area).slices] = True
    target &= ~known
    plan = replay(known, target, area, plan_windows(known, target, area))
    assert not plan[0].context_ok
    assert plan[0].context == pytest.approx(100 * 100 / 512**2)
    assert plan[0].rect.contains(image)
    assert all(w.context_ok for w in plan[1:])


def test_nothing_known_starts_at_the_target_top_left_corner():
    area = Rect(-512, -512, 2048, 2048)
    known = np.zeros((area.h, area.w), bool)
    target = np.zeros_like(known)
    target[Rect(0, 0, 1000, 700).relative_to(area).slices] = True
    plan = replay(known, target, area, plan_windows(known, target, area))
    assert plan[0].rect == Rect(0, 0, 512, 512)
    assert (plan[0].context, plan[0].context_ok) == (0.0, False)
    assert all(w.context_ok for w in plan[1:])


def test_known_target_pixels_are_repainted_not_context():
    area = Rect(0, 0, 1024, 1024)
    known = np.ones((area.h, area.w), bool)  # the caller forgot to remove the target
    target = np.zeros_like(known)
    target[400:600, 400:600] = True
    plan = replay(known, target, area, plan_windows(known, target, area))
    assert len(plan) == 1 and plan[0].new_px == 200 * 200


# ---------------------------------------------------------------- general properties


def test_no_target_no_windows():
    area = Rect(0, 0, 1024, 1024)
    known = np.ones((1024, 1024), bool)
    assert plan_windows(known, np.zeros_like(known), area) == []


def test_the_plan_is_deterministic():
    known, target, area = bench.TASKS["T4 to 2048 square"]()
    assert plan_windows(known, target, area) == plan_windows(known.copy(), target.copy(), area)


def test_cell_tables_follow_painting():
    rng = np.random.default_rng(7)
    area = Rect(0, 0, 1024, 1024)
    known = rng.random((1024, 1024)) < 0.5
    target = np.zeros_like(known)
    target[100:900:3, 50:1000] = True
    cells = Cells(known & ~target, target, area)
    paint = Paint(cells)
    for i, j, h, w in [(0, 0, 64, 64), (30, 50, 64, 72), (64, 64, 64, 64), (10, 0, 72, 64)]:
        paint.paint(i, j, h, w)
    fresh = Paint(cells)  # built from scratch for the same state
    fresh.todo = Table(paint.todo.vals, cells.dtype)
    fresh._open = paint._open
    assert paint.remaining == int(paint.todo.vals.sum())
    for table in (paint.todo, paint.row_moment, paint.col_moment, *paint._edges):
        assert np.array_equal(table.sat, sat(table.vals))
    for mine, theirs in zip(paint._edges, fresh._edge_vals(0, cells.h, 0, cells.w)):
        assert np.array_equal(mine.vals, theirs)


def test_the_docstring_examples_hold():
    import tiler._plan_cells
    import tiler.planner

    for module in (tiler.planner, tiler._plan_cells):
        assert doctest.testmod(module).failed == 0


def test_critical_path_follows_after():
    r = Rect(0, 0, 512, 512)
    assert critical_path([]) == 0
    chain = [Window(r, (), 1, 0.5), Window(r, (0,), 1, 0.5), Window(r, (1,), 1, 0.5)]
    assert critical_path(chain) == 3
    fan = [Window(r, (), 1, 0.5), Window(r, (), 1, 0.5), Window(r, (0, 1), 1, 0.5)]
    assert critical_path(fan) == 2


def test_windows_that_only_touch_depend_on_each_other():
    # Two holes side by side: each window reads the one-pixel ring of known-ness around it,
    # so the second window must wait for the first even though their rects do not overlap.
    area = Rect(0, 0, 2048, 1024)
    known = np.ones((area.h, area.w), bool)
    target = np.zeros_like(known)
    target[300:700, 100:1000] = True
    target[300:700, 1100:1900] = True
    known &= ~target
    plan = plan_windows(known, target, area)
    touching = [(a, b) for b in range(len(plan)) for a in range(b)
                if not plan[a].rect.intersects(plan[b].rect) and plan[a].rect.intersects(plan[b].rect.grow(1))]
    assert touching, [w.rect for w in plan]
    for a, b in touching:
        assert a in plan[b].after


boxes = st.tuples(
    st.integers(0, 1100), st.integers(0, 1100), st.integers(1, 700), st.integers(1, 700)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dx=st.integers(-20, 20),
    dy=st.integers(-20, 20),
    size=st.tuples(st.integers(520, 1200), st.integers(520, 1200)),
    known_boxes=st.lists(boxes, max_size=3),
    target_boxes=st.lists(boxes, min_size=1, max_size=3),
    sides=st.sampled_from([(512, 512), (576, 512), (640, 576), (768, 512)]),
    context=st.sampled_from([0.0, 0.1, 0.25, 0.4, 0.9]),
)
def test_random_plans_keep_every_rule(dx, dy, size, known_boxes, target_boxes, sides, context):
    area = Rect(dx, dy, *size)  # often off the canvas's 8 px grid and not whole cells
    known = np.zeros((area.h, area.w), bool)
    target = np.zeros_like(known)
    for x, y, w, h in known_boxes:
        known[y : y + h, x : x + w] = True
    for x, y, w, h in target_boxes:
        target[y : y + h, x : x + w] = True  # may overlap known: then it is repainted
    # keep the target where windows can reach: the whole 8 px cells from the area's corner
    inner = Rect(area.x, area.y, area.w // 8 * 8, area.h // 8 * 8)
    keep = np.zeros_like(target)
    keep[inner.relative_to(area).slices] = True
    target &= keep
    window, min_side = sides
    window = min(window, inner.w // 64 * 64, inner.h // 64 * 64)
    min_side = min(min_side, window)
    plan = plan_windows(known, target, area, window=window, min_side=min_side, context=context)
    replay(known, target, area, plan, window=window, min_side=min_side, context=context)
    if not (known & ~target).any() and target.any():
        assert not plan[0].context_ok or context == 0.0


# ---------------------------------------------------------------- bad arguments


def _maps(area=Rect(0, 0, 1024, 1024)):
    known = np.zeros((area.h, area.w), bool)
    known[:512, :512] = True
    target = np.zeros_like(known)
    target[512:700, :512] = True
    return known, target, area


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": 500}, "window"),
        ({"window": 448}, "window"),
        ({"window": 1088}, "window"),
        ({"min_side": 448}, "min_side"),
        ({"min_side": 520}, "min_side"),
        ({"window": 512, "min_side": 576}, "min_side"),
        ({"context": -0.1}, "context"),
        ({"context": 0.95}, "context"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_windows(*_maps(), **kwargs)


def test_maps_must_match_the_area():
    known, target, area = _maps()
    with pytest.raises(ValueError, match="shape"):
        plan_windows(known[:, :-1], target, area)
    with pytest.raises(ValueError, match="shape"):
        plan_windows(known, target.T[:-8], area)


def test_an_area_too_small_or_off_grid_is_refused():
    area = Rect(4, 0, 511, 1024)  # whole cells from its corner: windows have 504 px of room
    known = np.zeros((area.h, area.w), bool)
    known[:512] = True
    target = np.zeros_like(known)
    target[600:700, 100:200] = True
    with pytest.raises(ValueError, match="cannot hold"):
        plan_windows(known, target, area)
    known, target, _ = _maps()
    known, target = known[:, :1020], target[:, :1020]
    target[:, 1016:] = True  # the last 4 px, not a whole cell, which no window reaches
    with pytest.raises(ValueError, match="outside"):
        plan_windows(known, target, Rect(4, 0, 1020, 1024))
