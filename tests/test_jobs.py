"""The job path end to end on a real canvas file: every request, cancel, failure, drift."""

from __future__ import annotations

import numpy as np
import pytest
from pictures import CastPainter, EchoPainter, photo

from canvas.jobs import (
    Expand,
    Frame,
    Inpaint,
    JobError,
    JobSpec,
    TilerSettings,
    WindowCommitted,
    run_job,
)
from canvas.painters import CancelToken, PaintRequest, create_painter
from tiler.rect import Rect


def test_expand_down_fills_everything_and_keeps_the_original_outside_the_band(store, astronaut):
    store.import_image(astronaut, 0, 0)
    spec = JobSpec(Expand(down=1024), tiler=TilerSettings(pad=64))
    result = run_job(store, create_painter("patchmatch"), spec)

    assert result.status == "done"
    assert store.bounds(0) == Rect(0, 0, 512, 1536)
    out = store.read(0, Rect(0, 0, 512, 1536))
    assert (out[..., 3] == 255).all()
    # PatchMatch keeps known pixels as constraints: the whole original survives bit for bit.
    assert np.array_equal(out[:512, :, :3], astronaut)
    assert len(result.windows) == 3


def test_a_painter_that_repaints_the_band_changes_nothing_beyond_it(store, astronaut):
    store.import_image(astronaut, 0, 0)
    run_job(store, CastPainter(), JobSpec(Expand(down=600), tiler=TilerSettings(pad=40, feather=30)))
    out = store.read(0, Rect(0, 0, 512, 1112))
    assert (out[..., 3] == 255).all()
    assert np.array_equal(out[: 512 - 40, :, :3], astronaut[: 512 - 40])
    band = out[512 - 40 : 512, :, :3].astype(int) - astronaut[512 - 40 :]
    assert band.any()  # the seam was blended...
    assert np.abs(band[:10]).max() <= np.abs(band[-10:]).max()  # ...more towards the new content


def test_expand_on_all_sides_is_four_windows(store, astronaut):
    store.import_image(astronaut, 100, -50)
    result = run_job(store, EchoPainter(), JobSpec(Expand(left=256, right=256, up=256, down=256)))
    assert len(result.windows) == 4
    assert store.bounds(0) == Rect(100 - 256, -50 - 256, 1024, 1024)
    assert (store.read(0, store.bounds(0))[..., 3] == 255).all()


def test_outpaint_frame_paints_only_the_unknown_part_of_the_frame(store, astronaut):
    store.import_image(astronaut, 0, 0)
    frame = Rect(256, 128, 512, 512)
    run_job(store, EchoPainter(), JobSpec(Frame(frame), tiler=TilerSettings(pad=16, feather=8)))
    alpha = store.read(0, Rect(0, 0, 1024, 1024))[..., 3]
    assert (alpha[frame.slices] == 255).all()
    assert alpha[:, 768:].sum() == 0 and alpha[640:].sum() == 0
    assert store.bounds(0) == Rect(0, 0, 768, 640)


def test_inpaint_repaints_the_mask_and_nothing_beyond_the_band(store, astronaut):
    store.import_image(astronaut, 0, 0)
    mask = np.zeros((512, 512), bool)
    mask[200:260, 300:380] = True
    pad = 16
    run_job(store, create_painter("patchmatch"), JobSpec(Inpaint(mask), tiler=TilerSettings(pad=pad, feather=12)))
    out = store.read(0, Rect(0, 0, 512, 512))[..., :3]
    near = np.zeros_like(mask)
    near[200 - pad : 260 + pad, 300 - pad : 380 + pad] = True
    assert np.array_equal(out[~near], astronaut[~near])
    assert not np.array_equal(out[mask], astronaut[mask])


def test_same_seed_same_pixels_other_seed_other_pixels(tmp_path, astronaut):
    from canvas.store import Store

    def paint(seed: int) -> np.ndarray:
        with Store.open(tmp_path / f"s{seed}-{np.random.rand()}.canvas") as store:
            store.import_image(astronaut, 0, 0)
            spec = JobSpec(Expand(right=200), request=PaintRequest(seed=seed))
            run_job(store, create_painter("patchmatch"), spec)
            return store.read(0, store.bounds(0))

    first, again, other = paint(1), paint(1), paint(2)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_cancel_keeps_whole_committed_windows_and_undo_removes_them(store, astronaut):
    store.import_image(astronaut, 0, 0)
    before = store.read(0, Rect(0, 0, 512, 2048))
    cancel = CancelToken()

    def on_event(event):
        if isinstance(event, WindowCommitted):
            cancel.cancel()

    result = run_job(store, EchoPainter(), JobSpec(Expand(down=1536)), on_event=on_event, cancel=cancel)
    assert result.status == "cancelled" and result.windows_done == 1
    first = result.windows[0].rect
    alpha = store.read(0, Rect(0, 0, 512, 2048))[..., 3]
    assert (alpha[first.slices] == 255).all()
    assert alpha.sum() == 255 * (first.union(Rect(0, 0, 512, 512))).area
    assert store.history()[-1].status == "cancelled"
    store.undo()
    assert np.array_equal(store.read(0, Rect(0, 0, 512, 2048)), before)


class FailingPainter(EchoPainter):
    name = "failing"

    def paint(self, image, mask, request, progress, cancel):
        raise MemoryError("out of memory while painting")


def test_a_failing_painter_fails_the_job_and_leaves_the_canvas_as_it_was(store, astronaut):
    store.import_image(astronaut, 0, 0)
    before = store.read(0, Rect(-600, -600, 1800, 1800))
    with pytest.raises(MemoryError):
        run_job(store, FailingPainter(), JobSpec(Expand(right=300)))
    assert np.array_equal(store.read(0, Rect(-600, -600, 1800, 1800)), before)
    last = store.history()[-1]
    assert last.status == "failed" and "out of memory" in last.info["error"]
    run_job(store, EchoPainter(), JobSpec(Expand(right=300)))  # the next job runs
    assert store.bounds(0).w == 812


def test_select_commits_the_chosen_candidate(store, astronaut):
    store.import_image(astronaut, 0, 0)
    chosen = []

    def select(index, window, painted):
        assert len(painted.candidates) == 2
        assert not np.array_equal(painted.candidates[0], painted.candidates[1])
        chosen.append(painted.candidates[1])
        return 1

    spec = JobSpec(Expand(right=128), request=PaintRequest(candidates=2, seed=3))
    result = run_job(store, create_painter("patchmatch"), spec, select=select)
    [window] = result.windows
    assert np.array_equal(store.read(0, window.rect), chosen[0])


def test_select_returning_none_discards_the_window_and_ends_the_job(store, astronaut):
    store.import_image(astronaut, 0, 0)
    before = store.read(0, Rect(0, 0, 1024, 512))
    result = run_job(store, EchoPainter(), JobSpec(Expand(right=128)), select=lambda *_: None)
    assert result.status == "cancelled" and result.windows_done == 0
    assert np.array_equal(store.read(0, Rect(0, 0, 1024, 512)), before)


def expand_ten_times(store, painter, colour_match: bool) -> np.ndarray:
    store.import_image(photo("coffee", None)[:256, :256], 0, 0)
    settings = TilerSettings(pad=32, feather=24, colour_match=colour_match)
    for _ in range(10):
        run_job(store, painter, JobSpec(Expand(right=128), tiler=settings))
    return store.read(0, store.bounds(0))[..., :3].astype(np.float32)


def test_colour_match_stops_drift_over_ten_expansions(tmp_path):
    from canvas.store import Store

    with Store.open(tmp_path / "a.canvas") as a, Store.open(tmp_path / "b.canvas") as b, Store.open(tmp_path / "c.canvas") as c:
        neutral = expand_ten_times(a, CastPainter(shift=(0, 0, 0), gain=1.0), colour_match=True)
        matched = expand_ten_times(b, CastPainter(), colour_match=True)
        drifting = expand_ten_times(c, CastPainter(), colour_match=False)
    assert neutral.shape == matched.shape == (256, 256 + 10 * 128, 3)
    # Strip by strip, the cast painter with matching stays where the neutral one is...
    for strip in range(10):
        columns = slice(256 + strip * 128, 256 + (strip + 1) * 128)
        gap = np.abs(matched[:, columns].mean(axis=(0, 1)) - neutral[:, columns].mean(axis=(0, 1)))
        assert gap.max() < 4, (strip, gap)
    # ...while without matching the cast compounds: ten passes of x0.85 and +25 blue.
    last = np.abs(drifting[:, -128:].mean(axis=(0, 1)) - neutral[:, -128:].mean(axis=(0, 1)))
    assert last.max() > 40, last


def test_bad_jobs_are_refused_before_anything_is_written(store, astronaut):
    with pytest.raises(JobError, match="empty"):
        run_job(store, EchoPainter(), JobSpec(Expand(down=10)))
    store.import_image(astronaut, 0, 0)
    revisions = len(store.history())
    with pytest.raises(JobError, match="nothing to paint"):
        run_job(store, EchoPainter(), JobSpec(Frame(Rect(0, 0, 512, 512))))
    with pytest.raises(JobError):
        Expand(down=-5)
    with pytest.raises(JobError):
        Expand(down=10**6)
    with pytest.raises(JobError):
        Expand()
    with pytest.raises(JobError):
        TilerSettings(window=500)
    with pytest.raises(JobError):
        TilerSettings(pad=16, feather=32)
    with pytest.raises(JobError, match="megapixels"):
        run_job(store, EchoPainter(), JobSpec(Expand(down=8192, right=8192)))
    assert len(store.history()) == revisions


def test_history_records_the_options_the_job_painted_with(store, astronaut):
    store.import_image(astronaut, 0, 0)
    spec = JobSpec(Expand(right=64), request=PaintRequest(seed=4, options={"patch_size": 5}))
    run_job(store, create_painter("patchmatch"), spec)
    params = store.history()[-1].params
    assert params["patch_size"] == 5 and params["painter"] == "patchmatch" and params["seed"] == 4


def test_patchmatch_refuses_a_frame_with_nothing_known_near_it_in_one_line_and_writes_nothing(store, astronaut):
    patchmatch = create_painter("patchmatch")

    def refused(frame: Rect) -> None:
        with pytest.raises(JobError, match="PatchMatch copies from known pixels") as error:
            run_job(store, patchmatch, JobSpec(Frame(frame)))
        assert "\n" not in str(error.value) and "diffusion" in str(error.value)

    refused(Rect(0, 0, 512, 512))  # an empty canvas
    assert store.history() == [] and store.bounds(0).empty
    store.import_image(astronaut, 0, 0)
    revisions = len(store.history())
    refused(Rect(5000, 5000, 1024, 512))  # far from the picture
    assert len(store.history()) == revisions and store.bounds(0) == Rect(0, 0, 512, 512)
    # Beside the picture, with some of the frame known, it paints as ever; a painter that
    # takes a prompt paints from nothing too (the first window from the prompt alone).
    assert run_job(store, patchmatch, JobSpec(Frame(Rect(256, 0, 512, 512)))).status == "done"
    assert run_job(store, EchoPainter(), JobSpec(Frame(Rect(5000, 5000, 512, 512)))).status == "done"
