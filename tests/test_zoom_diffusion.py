"""Zoom out and grow with the Stable Diffusion painter (a tiny random-weight pipeline,
tests/tiny_models.py), and a zoom video of the result: the same paths as with PatchMatch."""

from __future__ import annotations

import av
import numpy as np
import pytest

pytest.importorskip("diffusers")

from canvas.jobs import TilerSettings, run_steps  # noqa: E402
from canvas.jobs.guided import full_body, guided_steps  # noqa: E402
from canvas.jobs.schedule import PromptSchedule  # noqa: E402
from canvas.jobs.zoom import zoom_out_steps  # noqa: E402
from canvas.painters import PaintRequest  # noqa: E402
from canvas.video import VideoSettings, render_video  # noqa: E402
from pictures import photo  # noqa: E402
from tiler.rect import Rect  # noqa: E402
from tiny_models import TinyModels  # noqa: E402

QUICK = {"steps": 2, "guidance": 1.0}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


def test_a_diffusion_zoom_out_keeps_the_original_and_makes_a_video(models, store, tmp_path):
    original = photo("astronaut", 512)
    store.import_image(original, 0, 0)
    specs = zoom_out_steps(Rect(0, 0, 512, 512), 2, 2.0, PaintRequest(seed=3, prompt="a room", **QUICK),
                           TilerSettings(window=512), PromptSchedule.of({2: "a house"}))
    result = run_steps(store, models.painter("sd-inpaint"), specs, kind="zoomout", params={"zoom_steps": 2})
    assert result.status == "done" and set(store.authored_bounds()) == {0, 1, 2}
    assert np.array_equal(store.read(0, Rect(0, 0, 512, 512))[..., :3], original)  # untouched at level 0
    ring = store.read(2, store.authored_bounds()[2])
    assert (ring[..., 3] == 255).all() and ring[..., :3].std() > 2
    out = tmp_path / "zoom.mp4"
    render_video(store, out, VideoSettings(width=128, height=128, fps=10, duration=1.5, hold=0.2))
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 15


def test_a_diffusion_headshot_grows_to_full_body_in_one_undo_step(models, store):
    store.import_image(photo("astronaut", 512), 0, 0)
    bounds = store.bounds(0)
    specs = guided_steps(bounds, full_body(bounds), ["upper body", "legs", "shoes"], PaintRequest(seed=1, **QUICK),
                         TilerSettings(window=512))
    result = run_steps(store, models.painter("sd-inpaint"), specs, kind="grow", params={"preset": "full-body"})
    assert result.status == "done" and store.bounds(0) == Rect(-426, 0, 1365, 2048)
    assert (store.read(0, store.bounds(0))[..., 3] == 255).all()
    store.undo()
    assert store.bounds(0) == Rect(0, 0, 512, 512)
