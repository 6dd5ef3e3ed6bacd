"""Coarse to fine (canvas/jobs/coarse.py): every job kind painted whole at a coarse level,
then refined level by level, as one job; the level the rule picks; refine windows that
start from the coarse picture upsampled; cancels that leave nothing; PatchMatch's guide."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pictures import EchoPainter, photo

from canvas.jobs import Expand, Frame, Inpaint, JobPlanned, JobSpec, WindowCommitted, run_job, run_steps
from canvas.jobs.coarse import coarse_level, plan_stages
from canvas.jobs.guided import GrowTo, guided_steps
from canvas.jobs.spec import REFINE_STRENGTH, JobError, Stage
from canvas.jobs.target import resolve_target
from canvas.painters import CancelToken, PaintRequest, create_painter
from canvas.store.pixels import upsample_smooth
from tiler.rect import Rect

PAD = 64  # the default seam band: a painter that repaints it may change known pixels this close


def small_photo(size: int = 256) -> np.ndarray:
    return photo("coffee", size)


def big_photo() -> np.ndarray:
    """1024 x 1024: the astronaut twice as large, for an inpaint mask many windows wide."""
    return np.ascontiguousarray(np.repeat(np.repeat(photo("astronaut"), 2, axis=0), 2, axis=1))


def setup(store, kind: str) -> tuple[list[JobSpec], np.ndarray, Rect]:
    """The job's steps (strategy coarse), its target at level 0, the bounds it ends with."""
    if kind == "inpaint":
        store.import_image(big_photo(), 0, 0)
        mask = np.ones((512, 512), bool)
        target = np.zeros((1024, 1024), bool)
        target[256:768, 256:768] = True
        return [JobSpec(Inpaint(mask, 256, 256), strategy="coarse")], target, Rect(0, 0, 1024, 1024)
    store.import_image(small_photo(), 0, 0)
    if kind == "expand":
        steps, bounds = [JobSpec(Expand(down=768), strategy="coarse")], Rect(0, 0, 256, 1024)
    elif kind == "frame":
        steps, bounds = [JobSpec(Frame(Rect(128, 128, 768, 768)), strategy="coarse")], Rect(0, 0, 896, 896)
    else:  # grow: down to 1024, then out to 768 wide: two steps, each coarse to fine
        grown = guided_steps(Rect(0, 0, 256, 256), GrowTo(width=768, height=1024, anchor="top"))
        steps, bounds = [replace(step, strategy="coarse") for step in grown], Rect(-256, 0, 768, 1024)
    target = np.ones((bounds.h, bounds.w), bool)
    target[Rect(0, 0, 256, 256).relative_to(bounds).slices] = False
    if kind == "frame":
        target[:128, :] = target[:, :128] = False
    return steps, target, bounds


def far_from(target: np.ndarray, distance: int) -> np.ndarray:
    from tiler.masks import distance_l1

    return distance_l1(target) > distance


@pytest.mark.parametrize("kind", ["expand", "frame", "inpaint", "grow"])
def test_each_kind_paints_every_target_pixel_keeps_the_rest_and_is_one_undo_step(store, kind):
    steps, target, bounds = setup(store, kind)
    before = store.read(0, bounds)
    revisions = len(store.history())
    levels = []
    result = run_steps(store, EchoPainter(), steps, kind=kind,
                       on_event=lambda e: levels.append(e.level) if isinstance(e, JobPlanned) else None)

    assert result.status == "done"
    assert len(levels) >= 2 * len(steps) and levels[0] > 0 and levels[-1] == 0  # coarse first, then finer
    assert store.bounds(0) == bounds  # nothing shows outside the target, not even a coarse pixel
    after = store.read(0, bounds)
    assert (after[target, 3] == 255).all()
    keep = far_from(target, PAD) & ~target
    assert np.array_equal(after[keep], before[keep])
    assert len(store.history()) == revisions + 1
    assert store.history()[-1].params["strategy"] == "coarse"
    store.undo()
    assert np.array_equal(store.read(0, bounds), before)
    assert list(store.authored_bounds()) == [0]  # the coarse levels' pixels went with it


def test_patchmatch_coarse_to_fine_keeps_every_known_pixel(store):
    picture = small_photo()
    store.import_image(picture, 0, 0)
    spec = JobSpec(Expand(down=512), request=PaintRequest(seed=5), strategy="coarse")
    assert [s.level for s in plan_stages(store, spec)] == [1, 0]
    result = run_job(store, create_painter("patchmatch"), spec)
    out = store.read(0, Rect(0, 0, 256, 768))
    assert result.status == "done" and (out[..., 3] == 255).all()
    assert np.array_equal(out[:256, :, :3], picture)  # PatchMatch keeps known pixels exactly


@pytest.mark.parametrize("down, levels", [(768, [1, 0]), (1792, [2, 1, 0]), (256, [0])])
def test_the_coarse_stage_paints_at_the_level_the_rule_says(store, down, levels):
    # The rule: the finest level where the target's bbox, grown by a quarter window (128 px)
    # where the canvas has content, fits one 512 window. A 256 px photo grown down by 768:
    # at level 0 the box is 256 x 896 (rows 128..1024); at level 1 128 x 512 (rows 0..512):
    # level 1. By 1792: level 1 is 128 x 960, level 2 is 64 x 512. By 256: 256 x 384 at 0.
    store.import_image(small_photo(), 0, 0)
    spec = JobSpec(Expand(down=down), strategy="coarse")
    stages = plan_stages(store, spec)
    assert [s.level for s in stages] == levels
    assert coarse_level(resolve_target(store, spec), 0, 512) == levels[0]
    if len(levels) > 1:
        assert [s.target.start for s in stages] == [None, *levels[:-1]]
        assert stages[0].request == spec.request and all(s.request.strength == REFINE_STRENGTH for s in stages[1:])
        run_job(store, EchoPainter(), spec)
        assert max(store.authored_bounds()) == levels[0]  # authored at its level, as a zoom-out's rings


def test_a_ragged_edge_grows_no_coarse_pixel_beyond_the_picture(store):
    store.import_image(photo("coffee", 249), 0, 0)  # 249 px: the last level-1 pixel is half empty
    run_job(store, EchoPainter(), JobSpec(Expand(down=747), strategy="coarse"))
    assert store.bounds(0) == Rect(0, 0, 249, 996)
    assert store.authored_bounds()[1].x1 <= 124


def test_auto_is_tiles_for_a_few_windows_and_coarse_for_many(store):
    store.import_image(small_photo(), 0, 0)
    assert len(plan_stages(store, JobSpec(Expand(down=512), strategy="auto"))) == 1
    assert len(plan_stages(store, JobSpec(Expand(down=2048, left=512, right=512), strategy="auto"))) > 1


@pytest.mark.parametrize("stage", [0, 1])
def test_a_cancel_during_either_stage_commits_nothing_of_the_job(store, stage):
    store.import_image(small_photo(), 0, 0)
    before, history = store.read(0, Rect(-64, 0, 384, 1024)), store.history()
    spec = JobSpec(Expand(down=768), strategy="coarse")
    level = plan_stages(store, spec)[stage].level
    cancel = CancelToken()

    def on_event(event):
        if isinstance(event, WindowCommitted) and event.level == level:
            cancel.cancel()

    result = run_job(store, EchoPainter(), spec, on_event=on_event, cancel=cancel)
    assert result.status == "cancelled" and result.taken_back is not None
    assert np.array_equal(store.read(0, Rect(-64, 0, 384, 1024)), before)
    assert store.authored_bounds() == {0: Rect(0, 0, 256, 256)}
    assert store.history() == history and store.head == history[-1].id
    run_job(store, EchoPainter(), JobSpec(Expand(down=64)))  # the canvas works on as before


def test_the_store_drops_a_running_revision_and_only_that(store):
    from canvas.store import StoreError

    store.import_image(small_photo(), 0, 0)
    before, history = store.read(1, Rect(0, 0, 256, 256)), store.history()
    rev = store.begin_revision("expand", {})
    store.commit(rev, 1, Rect(0, 128, 128, 128), np.full((128, 128, 4), 255, np.uint8))
    assert store.drop_revision(rev) == Rect(0, 256, 256, 256)
    assert store.history() == history and store.redo() is None
    assert np.array_equal(store.read(1, Rect(0, 0, 256, 256)), before)
    with pytest.raises(StoreError):
        store.drop_revision(history[-1].id)  # finished: only undo takes it back


def test_bad_strategies_are_one_clear_error():
    with pytest.raises(JobError, match="strategy must be one of tiles, coarse, auto"):
        JobSpec(Expand(down=64), strategy="fast")
    with pytest.raises(JobError, match="refine strength must be between 0 and 1"):
        JobSpec(Expand(down=64), refine_strength=1.5)


def test_patchmatch_follows_its_guide_below_strength_1():
    # Known: red on the left, blue on the right, along the top. The guide under the mask
    # swaps them: unguided, PatchMatch continues the colours above; guided, it follows.
    rng = np.random.default_rng(0)
    red, blue = np.array([200, 40, 40]), np.array([40, 40, 200])
    image = np.zeros((128, 128, 3), int)
    image[:32, :64], image[:32, 64:] = red, blue
    image[32:, :64], image[32:, 64:] = blue, red  # the guide
    image = np.clip(image + rng.integers(-25, 25, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((128, 128), bool)
    mask[32:] = True
    painter = create_painter("patchmatch")

    def paint(strength: float) -> np.ndarray:
        [out] = painter.paint(image, mask, PaintRequest(seed=0, strength=strength), lambda r: None, CancelToken())
        return out

    def colours(strength: float) -> tuple[np.ndarray, np.ndarray]:
        out = paint(strength)
        return out[72:, :48].mean(axis=(0, 1)), out[72:, 80:].mean(axis=(0, 1))

    left, right = colours(0.5)
    assert left[2] > left[0] + 60 and right[0] > right[2] + 60  # blue where the guide is blue, red where red
    assert np.array_equal(paint(0.5), paint(0.5))  # the same seed, the same guided fill
    left, right = colours(1.0)
    assert left[0] > left[2] + 60 and right[2] > right[0] + 60  # at strength 1 the guide means nothing


def test_a_stage_is_painted_as_it_is():
    spec = JobSpec(Stage(np.ones((8, 8), bool), 0, 0), strategy="coarse")
    assert plan_stages(None, spec) == [spec]


# -- on the tiny Stable Diffusion model ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tiny_models import TinyModels

    return TinyModels.shared(tmp_path_factory).painter("sd-inpaint")


class Recording:
    """The painter it wraps, remembering the image and mask every window hands it;
    `before` (if given) runs at each call, before the real painter paints."""

    def __init__(self, inner, before=None) -> None:
        self.inner, self.images, self.masks, self.before = inner, [], [], before

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def paint(self, image, mask, request, progress, cancel):
        self.images.append(image.copy())
        self.masks.append(mask.copy())
        if self.before is not None:
            self.before()
        return self.inner.paint(image, mask, request, progress, cancel)


def upsampled(store, rect: Rect, coarse: int) -> np.ndarray:
    """What the runner should start a refine window from: level `coarse` upsampled to 0."""
    source = rect.to_level(0, coarse).grow(1)
    return upsample_smooth(store.read(coarse, source), source, coarse, rect)


def test_strength_0_leaves_the_upsampled_coarse_picture(store, tiny_sd):
    store.import_image(small_photo(), 0, 0)
    request = PaintRequest(seed=1, steps=2, guidance=1.0)
    coarse, fine = plan_stages(store, JobSpec(Expand(down=768), request=request, strategy="coarse", refine_strength=0))
    run_steps(store, tiny_sd, [coarse])
    area = Rect(0, 256, 256, 768)
    assert (store.read(0, area)[..., 3] == 255).all()  # a viewer sees the coarse picture at once
    expected = upsampled(store, area, coarse.level)
    windows = run_steps(store, tiny_sd, [fine]).windows
    assert fine.request.strength == 0 and [w.rect.y for w in windows] == [0, 256, 512]
    after = store.read(0, area)
    # Each window starts from level 1 as it is then: where an earlier window's refined
    # pixels lie next to its own (the first row of its fill), they blend in.
    seams = [512 - 256, 768 - 256]
    same = np.ones(768, bool)
    same[seams] = False
    assert np.array_equal(after[same], expected[same])


def test_refine_windows_start_from_the_upsampled_coarse_picture_and_repeat_for_a_seed(store, tiny_sd):
    store.import_image(small_photo(), 0, 0)
    request = PaintRequest(seed=3, steps=2, guidance=1.0)
    spec = JobSpec(Expand(down=768), request=request, strategy="coarse", refine_strength=0.3)
    coarse, fine = plan_stages(store, spec)
    painter = Recording(tiny_sd)
    run_steps(store, painter, [coarse])
    windows = []
    run_steps(store, painter, [fine], on_event=lambda e: windows.extend(e.windows) if isinstance(e, JobPlanned) else None)
    first = windows[0]
    store.undo()  # level 1 holds refined pixels now: read it as the first refine window did
    expected = upsampled(store, first, coarse.level)  # the coarse picture, before any refinement
    handed = painter.images[1]  # [0]: the coarse stage's window
    fill = expected[..., 3] > 0
    fill &= np.arange(first.y, first.y1)[:, None] >= 256  # the target part of the window
    assert np.array_equal(handed[fill], expected[fill][:, :3])
    store.undo()
    pictures = []
    for _ in range(2):  # the whole job, twice: window seeds are numbered across its stages
        assert run_job(store, tiny_sd, spec).status == "done"
        pictures.append(store.read(0, Rect(0, 0, 256, 1024)))
        store.undo()
    assert np.array_equal(*pictures) and (pictures[0][..., 3] == 255).all()


def test_every_refine_window_is_handed_the_upsampled_coarse_picture_inside_its_target(store, tiny_sd):
    # Strength between 0 and 1: the painter runs (at 0 window.py skips it), so what it is
    # handed is seen. Each window starts from level 1 as it is when the window is painted
    # (earlier windows' refined pixels are in it by then), upsampled as the runner does.
    store.import_image(small_photo(), 0, 0)
    request = PaintRequest(seed=4, steps=2, guidance=1.0)
    spec = JobSpec(Expand(down=768), request=request, strategy="coarse", refine_strength=0.5)
    coarse, fine = plan_stages(store, spec)
    run_steps(store, tiny_sd, [coarse])
    windows, expected = [], []
    painter = Recording(tiny_sd, before=lambda: expected.append(upsampled(store, windows[len(expected)], coarse.level)))
    result = run_steps(store, painter, [fine],
                       on_event=lambda e: windows.extend(e.windows) if isinstance(e, JobPlanned) else None)
    assert result.status == "done" and len(windows) == len(painter.images) == len(expected) == 3
    covered = np.zeros(1024, bool)  # rows of the target an earlier window painted
    covered[:256] = True  # the photo
    for rect, handed, mask, start in zip(windows, painter.images, painter.masks, expected):
        rows = np.arange(rect.y, rect.y1)
        fill = ~covered[rows][:, None] & (start[..., 3] > 0)  # the target this window paints
        assert fill.sum() >= 256 * 256 and mask[fill].all()  # a 256 px band of the 256 px wide target, all repainted
        difference = np.abs(handed[fill].astype(int) - start[fill][:, :3].astype(int))
        assert difference.max() <= 1, (rect, difference.max())  # the upsampled picture, within rounding
        assert handed[fill].std() > 5  # a picture, not a flat prefill
        covered[rect.y:rect.y1] = True
    assert (store.read(0, Rect(0, 0, 256, 1024))[..., 3] == 255).all()


# -- the command line and the websocket ------------------------------------------------------


def test_the_cli_takes_a_strategy_and_records_it(tmp_path, capsys):
    from PIL import Image

    from canvas.cli import main
    from canvas.store import Store

    Image.fromarray(small_photo(128)).save(tmp_path / "small.png")
    canvas = tmp_path / "work.canvas"
    args = ["expand", str(tmp_path / "small.png"), "--down", "64", "--canvas", str(canvas), "-q"]
    assert main([*args, "--refine-strength", "2"]) == 2
    assert "--refine-strength must be between 0 and 1" in capsys.readouterr().err and not canvas.exists()
    out = tmp_path / "out.png"
    assert main([*args, "--strategy", "coarse", "--refine-strength", "0.3", "-o", str(out)]) == 0
    with Store.open(canvas) as store:
        params = store.history()[-1].params
    assert params["strategy"] == "coarse" and params["refine_strength"] == 0.3
    assert "Strategy: coarse, Refine strength: 0.3" in Image.open(out).text["parameters"]


# -- over the websocket --------------------------------------------------------------------


def test_a_coarse_expand_over_the_websocket_is_staged_recorded_and_taken_back_when_cancelled(server):
    from serving import png

    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(small_photo()))[0] == 201
    client = server.socket()
    job = client.ask({"type": "expand", "down": 768, "params": {"strategy": "coarse", "refine_strength": 0.4}})["job"]
    assert client.next("job.done", job=job, timeout=60)["status"] == "done"
    started = [m for m in client.seen if m["type"] == "job.started" and m["job"] == job]
    assert [(m["stage"], m["level"]) for m in started] == [(0, 1), (1, 0)]
    revision = client.ask({"type": "history"})["revisions"][-1]
    assert revision["params"]["strategy"] == "coarse" and revision["params"]["refine_strength"] == 0.4
    store = server.state.canvases.store("default")
    head, bounds = store.head, store.bounds(0)

    server.painter.delay = 0.2
    job = client.ask({"type": "expand", "down": 768, "params": {"strategy": "coarse"}})["job"]
    client.next("window.committed", job=job, timeout=30)  # the coarse stage's window
    assert client.ask({"type": "cancel", "job": job})["type"] == "ok"
    assert client.next("job.done", job=job, timeout=30)["status"] == "cancelled"
    invalidated = client.next("tiles.invalidated", timeout=30)
    assert invalidated["bounds"] == {"x": 0, "y": 0, "w": bounds.w, "h": bounds.h}
    assert store.head == head and store.bounds(0) == bounds
    answer = client.ask({"type": "expand", "down": 64, "params": {"strategy": "fine"}})
    assert answer["type"] == "error" and answer["code"] == "bad_choice"
    client.close()
