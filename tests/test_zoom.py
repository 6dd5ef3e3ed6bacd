"""Zoom-out and guided expansion as jobs: several steps, one revision, one undo step."""

from __future__ import annotations

import numpy as np
import pytest
from pictures import CastPainter, EchoPainter, photo

from canvas.jobs import JobError, JobPlanned, WindowCommitted, run_steps
from canvas.jobs.guided import FULL_BODY_PROMPTS, GrowTo, full_body, guided_steps
from canvas.jobs.schedule import PromptSchedule
from canvas.jobs.zoom import zoom_level, zoom_out_steps, zoom_region
from canvas.painters import PaintRequest, create_painter
from tiler.rect import Rect


def test_zoom_regions_and_levels():
    frame = Rect(0, 0, 512, 512)
    assert [zoom_level(2.0**n) for n in range(1, 5)] == [1, 2, 3, 4]
    assert [zoom_level(1.5**n) for n in range(1, 5)] == [0, 1, 1, 2]
    assert zoom_region(frame, 2) == Rect(-256, -256, 1024, 1024)
    specs = zoom_out_steps(frame, 3, 2.0)
    # factor 2: step n paints level n, where the region is the frame's size again
    assert [s.level for s in specs] == [1, 2, 3]
    assert [s.target.rect for s in specs] == [Rect(-128, -128, 512, 512), Rect(-192, -192, 512, 512), Rect(-224, -224, 512, 512)]
    for n, spec in enumerate(zoom_out_steps(frame, 6, 1.5), start=1):
        # every step's region is at least the frame's size at its level, and under twice it
        assert 512 <= spec.target.rect.w < 1024 + 2
        assert spec.target.rect.contains(zoom_region(frame, 1.5 ** (n - 1)).to_level(0, spec.level))


@pytest.mark.parametrize("frame, steps, factor", [
    (Rect(0, 0, 0, 0), 2, 2.0), (Rect(0, 0, 512, 512), 0, 2.0), (Rect(0, 0, 512, 512), 2, 1.2),
    (Rect(0, 0, 512, 512), 2, 5.0), (Rect(0, 0, 512, 512), 17, 2.0), (Rect(0, 0, 512, 512), 2.5, 2.0),
])
def test_bad_zoom_requests_are_clear_errors(frame, steps, factor):
    with pytest.raises(JobError):
        zoom_out_steps(frame, steps, factor)


def test_a_prompt_schedule_holds_each_prompt_until_the_next():
    schedule = PromptSchedule.parse(["3:a village in the valley", "1:a cottage window"])
    assert [schedule.at(step, "base") for step in range(1, 6)] == ["a cottage window"] * 2 + ["a village in the valley"] * 3
    assert PromptSchedule.parse(["2:x"]).at(1, "base") == "base"
    for bad in (["x"], ["0:x"], ["-1:x"], ["a:b"]):
        with pytest.raises(JobError):
            PromptSchedule.parse(bad)
    with pytest.raises(JobError):
        PromptSchedule.parse(["2:x", "2:y"])
    specs = zoom_out_steps(Rect(0, 0, 512, 512), 4, 2.0, PaintRequest(prompt="base"), schedule=PromptSchedule.of({2: "far"}))
    assert [s.request.prompt for s in specs] == ["base", "far", "far", "far"]


def test_three_zoom_steps_write_three_coarser_levels_and_keep_the_original(store):
    original = photo("astronaut", 512)
    store.import_image(original, 0, 0)
    before = store.history()[-1].id
    events = []
    specs = zoom_out_steps(Rect(0, 0, 512, 512), 3, 2.0, PaintRequest(seed=5))
    result = run_steps(store, create_painter("patchmatch"), specs, kind="zoomout", params={"steps": 3}, on_event=events.append)

    assert result.status == "done" and len(store.history()) == 2  # one revision for the whole job
    assert [(e.stage, e.stages) for e in events if isinstance(e, JobPlanned)] == [(0, 3), (1, 3), (2, 3)]
    assert {e.level for e in events if isinstance(e, WindowCommitted)} == {1, 2, 3}
    authored = store.authored_bounds()
    assert set(authored) == {0, 1, 2, 3}
    for level in (1, 2, 3):
        assert authored[level] == zoom_region(Rect(0, 0, 512, 512), 2**level).to_level(0, level)
    # the original is untouched at full resolution; around it, the canvas is painted
    assert np.array_equal(store.read(0, Rect(0, 0, 512, 512))[..., :3], original)
    outer = store.read(3, authored[3])
    assert (outer[..., 3] == 255).all()
    wide = store.read(0, Rect(-1536, -1536, 3584, 3584))
    assert (wide[..., 3] == 255).all()  # the rings show (upsampled) at level 0 too
    info = store.history()[-1].info
    assert [step["level"] for step in info["steps"]] == [1, 2, 3]
    store.undo()
    assert store.head == before
    assert set(store.authored_bounds()) == {0}


class RecordingPainter(EchoPainter):
    def __init__(self) -> None:
        self.requests: list[PaintRequest] = []

    def paint(self, image, mask, request, progress, cancel):
        self.requests.append(request)
        return super().paint(image, mask, request, progress, cancel)


def test_each_zoom_step_paints_with_its_own_prompt_and_seed(store):
    store.import_image(photo("astronaut", 512), 0, 0)
    painter = RecordingPainter()
    specs = zoom_out_steps(Rect(0, 0, 512, 512), 2, 2.0, PaintRequest(seed=1, prompt="near"),
                           schedule=PromptSchedule.of({2: "far"}))
    run_steps(store, painter, specs, kind="zoomout", params={})
    assert [r.prompt for r in painter.requests] == ["near", "far"]
    assert len({r.seed for r in painter.requests}) == 2


def test_the_full_body_preset_grows_a_headshot_in_one_undo_step(store):
    store.import_image(photo("astronaut", 512), 0, 0)
    goal = full_body(store.bounds(0))
    specs = guided_steps(store.bounds(0), goal, FULL_BODY_PROMPTS, PaintRequest(seed=2))
    assert [s.request.prompt for s in specs] == [*FULL_BODY_PROMPTS, FULL_BODY_PROMPTS[-1]]
    # A fast painter that repaints the seam band (as diffusion does): 12 windows of PatchMatch
    # would take a minute and show nothing more about the steps.
    result = run_steps(store, CastPainter(), specs, kind="grow", params={"preset": "full-body"})
    assert result.status == "done"
    assert store.bounds(0) == Rect(-426, 0, 1365, 2048)
    assert (store.read(0, store.bounds(0))[..., 3] == 255).all()
    pad = specs[0].tiler.pad  # the original survives beyond the band the painter repaints
    assert np.array_equal(store.read(0, Rect(pad, 0, 512 - 2 * pad, 512 - pad))[..., :3], photo("astronaut", 512)[:-pad, pad:-pad])
    assert len(store.history()) == 2
    store.undo()
    assert store.bounds(0) == Rect(0, 0, 512, 512)


@pytest.mark.parametrize("goal, size", [
    (GrowTo(width=1024, height=512, anchor="left"), (1024, 512)),
    (GrowTo(aspect=16 / 9), (910, 512)),
    (GrowTo(aspect=0.5), (512, 1024)),
    (GrowTo(height=768, aspect=1.0), (768, 768)),
])
def test_grow_to_sizes_and_anchors(goal, size):
    specs = guided_steps(Rect(0, 0, 512, 512), goal)
    grown = Rect(0, 0, 512, 512)
    for spec in specs:
        t = spec.target
        grown = grown.grow(t.left, t.up, t.right, t.down)
    assert (grown.w, grown.h) == size
    if goal.anchor == "left":
        assert grown.x == 0


def test_grow_to_refuses_to_shrink_or_stand_still():
    for goal in (GrowTo(width=256, height=1024), GrowTo(width=512, height=512), GrowTo(aspect=1.0)):
        with pytest.raises(JobError):
            guided_steps(Rect(0, 0, 512, 512), goal)
    with pytest.raises(JobError):
        GrowTo(width=1024, height=1024, anchor="middle")
