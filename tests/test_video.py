"""Infinite-zoom videos from a zoomed-out canvas: files that decode, frames that flow."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from canvas.jobs import run_steps
from canvas.jobs.zoom import zoom_out_steps
from canvas.painters import CancelToken, Cancelled, PaintRequest
from canvas.store import Store
from canvas.video import VideoError, VideoSettings, render_video
from canvas.video.layers import LevelStack
from canvas.video.path import ZoomPath
from pictures import photo
from tiler.rect import Rect


class PatternPainter:
    """Paints a smooth seeded pattern: cheap, textured, and different at every level."""

    name = "pattern"
    repaints_band = True

    def describe(self) -> dict:
        return {"painter": self.name}

    def paint(self, image, mask, request, progress, cancel):
        h, w = mask.shape
        rng = np.random.default_rng(request.seed)
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        pattern = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC))
        out = image.copy()
        out[mask] = pattern[mask]
        return [out]


@pytest.fixture(scope="module")
def zoomed(tmp_path_factory) -> Store:
    """A 512 px photo zoomed out three times (levels 1 to 3 painted)."""
    path = tmp_path_factory.mktemp("zoom") / "zoom.canvas"
    store = Store.open(path)
    store.import_image(photo("astronaut", 512), 0, 0)
    run_steps(store, PatternPainter(), zoom_out_steps(Rect(0, 0, 512, 512), 3, 2.0, PaintRequest(seed=3)), kind="zoomout", params={})
    yield store
    store.close()


@pytest.mark.parametrize("fmt", ["mp4", "webp", "gif"])
def test_a_three_step_zoom_video_has_the_right_frames_and_size(zoomed, tmp_path, fmt):
    out = tmp_path / f"zoom.{fmt}"
    seen = []
    stats = render_video(zoomed, out, VideoSettings(width=160, height=96, fps=12, duration=2.0, hold=0.25),
                         progress=lambda done, total: seen.append((done, total)))
    assert stats.frames == 24 and stats.levels == 4 and stats.zoom == pytest.approx(8.0 * 96 / 160 / (96 / 160), rel=0.01)
    assert seen[-1] == (24, 24) and len(seen) == 24
    if fmt == "mp4":
        with av.open(str(out)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
            assert container.streams.video[0].codec_context.name == "h264"
        assert len(frames) == 24 and frames[0].shape == (96, 160, 3)
    elif fmt == "webp":
        with Image.open(out) as image:
            assert image.n_frames == 24 and image.size == (160, 96)
    else:  # GIF merges identical neighbours (the holds) and keeps time in 10 ms steps
        with Image.open(out) as image:
            durations = []
            for index in range(image.n_frames):
                image.seek(index)
                durations.append(image.info["duration"])
            assert image.size == (160, 96) and sum(durations) == pytest.approx(2000, rel=0.05) and len(durations) >= 16
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no partial file left behind


def test_frames_follow_one_another_with_no_jump_beyond_the_zoom(zoomed):
    stack = LevelStack(zoomed)
    path = ZoomPath.between(stack.inner, stack.outer, 1.0)
    size, count = 192, 48
    cameras = [path.at(i / (count - 1)) for i in range(count)]
    frames = [stack.render(camera, size, size).astype(np.float32) for camera in cameras]
    assert np.allclose(frames[0], stack.render(path.inner, size, size))
    differences = []
    for (a, camera_a), (b, camera_b) in zip(zip(frames, cameras), zip(frames[1:], cameras[1:])):
        # where frame a's camera lies in frame b: scale that part back up and compare
        k = size / camera_b.w
        box = ((camera_a.x - camera_b.x) * k, (camera_a.y - camera_b.y) * k,
               (camera_a.x + camera_a.w - camera_b.x) * k, (camera_a.y + camera_a.h - camera_b.y) * k)
        back = np.asarray(Image.fromarray(b.astype(np.uint8)).resize((size, size), Image.BILINEAR, box=box), np.float32)
        differences.append(np.abs(back[8:-8, 8:-8] - a[8:-8, 8:-8]).mean())
    # only resampling differs between the two views of the same place: no frame jumps
    assert max(differences) < 12, differences
    assert max(differences) < 3 * np.median(differences), differences


def test_where_a_level_ends_inside_a_coarser_one_its_detail_fades_in(tmp_path):
    with Store.open(tmp_path / "edge.canvas") as store:
        grey = np.full((256, 256, 4), 128, np.uint8)
        grey[..., 3] = 255
        noise = np.random.default_rng(0).integers(0, 256, (512, 512, 4), dtype=np.uint8)
        noise[..., 3] = 255
        rev = store.begin_revision("test", {})
        store.commit(rev, 2, Rect(-64, -64, 256, 256), grey)  # a ring authored two levels up
        store.commit(rev, 0, Rect(0, 0, 512, 512), noise)  # fine detail inside it
        store.finish_revision(rev)
        # one output px per level-0 px, across the left edge of the detailed square (x = 0 at column 64)
        camera = ZoomPath.between(Rect(-64, 128, 256, 256), Rect(-64, 128, 256, 256), 1.0).at(0)

        def detail(fade: int) -> np.ndarray:
            frame = LevelStack(store, fade=fade).render(camera, 256, 256).astype(np.float32)
            return np.abs(np.diff(frame[..., 0], axis=0)).mean(axis=0)  # vertical detail per column

        full = detail(32)[64 + 48 :].mean()
        assert detail(32)[64:68].mean() < 0.25 * full  # the detail starts faint at the edge...
        assert detail(32)[64 + 24 : 64 + 28].mean() > 0.5 * full  # ...and grows over the fade
        assert detail(0)[64:68].mean() > 0.75 * full  # without the fade it starts at once: a line


@pytest.mark.parametrize("settings", [
    dict(width=161), dict(height=8), dict(width=4096), dict(fps=0), dict(fps=120), dict(duration=0),
    dict(hold=5.0, duration=10.0), dict(easing="bounce"), dict(direction="sideways"), dict(duration=1000.0),
])
def test_bad_settings_are_clear_errors(settings):
    with pytest.raises(VideoError):
        VideoSettings(**settings)


def test_a_bad_file_name_or_an_empty_canvas_writes_nothing(zoomed, tmp_path):
    with pytest.raises(VideoError, match="mp4"):
        render_video(zoomed, tmp_path / "zoom.avi", VideoSettings(duration=2.0))
    with Store.open(tmp_path / "empty.canvas") as empty, pytest.raises(VideoError, match="empty"):
        render_video(empty, tmp_path / "zoom.mp4", VideoSettings(duration=2.0))
    assert not list(tmp_path.glob("zoom*")) and not list(tmp_path.glob(".zoom*"))


def test_a_cancelled_video_leaves_no_file(zoomed, tmp_path):
    cancel = CancelToken()

    def progress(done: int, total: int) -> None:
        if done == 5:
            cancel.cancel()

    with pytest.raises(Cancelled):
        render_video(zoomed, tmp_path / "zoom.mp4", VideoSettings(width=64, height=64, duration=2.0), progress, cancel)
    assert list(tmp_path.iterdir()) == []
