"""Every job kind with the pipeline families (tiny models, tests/tiny_families.py) on the
job runner: inpaint, frame, zoom-out and grow paint every target pixel and keep the known
pixels outside the band bit for bit, as with SD (tests/test_zoom_diffusion.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

from canvas.jobs import Frame, Inpaint, JobSpec, TilerSettings, run_job, run_steps  # noqa: E402
from canvas.jobs.guided import full_body, guided_steps  # noqa: E402
from canvas.jobs.zoom import zoom_out_steps  # noqa: E402
from canvas.painters import PaintRequest  # noqa: E402
from pictures import photo  # noqa: E402
from tiler.rect import Rect  # noqa: E402
from tiny_families import FAMILY_KINDS, TinyFamilies  # noqa: E402

QUICK = {"steps": 2, "guidance": 3.5}
PAD = 32
# FLUX.1 Fill (an inpainting model: no blend) and Z-Image (the pipeline's latent blend, softened)
KINDS = [key for key in ("flux-fill", "z-image") if key in FAMILY_KINDS]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyFamilies:
    return TinyFamilies.shared(tmp_path_factory)


def tiler() -> TilerSettings:
    return TilerSettings(window=512, pad=PAD, feather=PAD // 2)


@pytest.mark.parametrize("key", KINDS)
def test_inpaint_repaints_the_mask_and_nothing_beyond_the_band(tiny, key, store):
    original = photo("astronaut", 256)
    store.import_image(original, 0, 0)
    mask = np.zeros((256, 256), bool)
    mask[96:160, 64:192] = True
    result = run_job(store, tiny.painter(key), JobSpec(Inpaint(mask), request=PaintRequest(seed=2, **QUICK), tiler=tiler()))
    assert result.status == "done" and result.windows_done >= 1
    out = store.read(0, Rect(0, 0, 256, 256))
    near = np.zeros_like(mask)
    near[96 - PAD : 160 + PAD, 64 - PAD : 192 + PAD] = True
    assert (out[..., 3] == 255).all()
    assert np.array_equal(out[~near][:, :3], original[~near])
    assert not np.array_equal(out[mask][:, :3], original[mask])
    assert store.history()[-1].params["family"] == key


@pytest.mark.parametrize("key", KINDS)
def test_a_frame_paints_its_unknown_part_and_keeps_the_rest(tiny, key, store):
    original = photo("astronaut", 256)
    store.import_image(original, 0, 0)
    frame = Rect(128, 64, 256, 256)  # over the photo's lower right quarter, and beyond it right and down
    result = run_job(store, tiny.painter(key), JobSpec(Frame(frame), request=PaintRequest(seed=4, **QUICK), tiler=tiler()))
    assert result.status == "done"
    out = store.read(0, Rect(0, 0, 384, 320))
    assert (out[frame.slices][..., 3] == 255).all() and out[64:320, 256:384, :3].std() > 2
    assert out[:, :, 3][:64, 256:].sum() == 0 and store.bounds(0) == Rect(0, 0, 384, 320)
    assert (out[256:320, 128:256, 3] == 255).all() and (out[256:, :128, 3] == 0).all()
    # the photo outside the band along the frame's new parts (right of it, below it): bit for bit
    assert np.array_equal(out[: 256 - PAD, : 256 - PAD, :3], original[: 256 - PAD, : 256 - PAD])
    assert np.array_equal(out[:256, : 128 - PAD, :3], original[:, : 128 - PAD])
    assert np.array_equal(out[: 64 - PAD, :256, :3], original[: 64 - PAD])


@pytest.mark.parametrize("key", KINDS)
def test_a_zoom_out_keeps_the_original_and_paints_each_ring(tiny, key, store):
    original = photo("astronaut", 512)
    store.import_image(original, 0, 0)
    specs = zoom_out_steps(Rect(0, 0, 512, 512), 1, 2.0, PaintRequest(seed=3, prompt="a room", **QUICK), tiler())
    result = run_steps(store, tiny.painter(key), specs, kind="zoomout", params={"zoom_steps": 1})
    assert result.status == "done" and set(store.authored_bounds()) == {0, 1}
    assert np.array_equal(store.read(0, Rect(0, 0, 512, 512))[..., :3], original)  # untouched at level 0
    ring = store.read(1, store.authored_bounds()[1])
    assert (ring[..., 3] == 255).all() and ring[..., :3].std() > 2


@pytest.mark.parametrize("key", KINDS)
def test_a_headshot_grows_to_full_body_keeping_the_photo(tiny, key, store):
    original = photo("astronaut", 128)
    store.import_image(original, 0, 0)
    bounds = store.bounds(0)
    specs = guided_steps(bounds, full_body(bounds), ["upper body", "legs"], PaintRequest(seed=1, **QUICK), tiler())
    result = run_steps(store, tiny.painter(key), specs, kind="grow", params={"preset": "full-body"})
    grown = store.bounds(0)
    assert result.status == "done" and grown.h == 512 and grown.w > 128
    out = store.read(0, grown)
    assert (out[..., 3] == 255).all()
    x, y = -grown.x, -grown.y  # where the photo sits in the grown picture
    assert np.array_equal(out[y : y + 128 - PAD, x + PAD : x + 128 - PAD, :3], original[: 128 - PAD, PAD : 128 - PAD])
    store.undo()
    assert store.bounds(0) == Rect(0, 0, 128, 128)


def test_two_painter_processes_paint_a_flux_fill_job_with_the_pixels_painted_here(tiny):
    # As `serve --painter diffusion --model FOLDER --painters 2` runs: each child builds its
    # painter from the options alone and paints one of the job's two windows, apart.
    from canvas.jobs import Expand
    from canvas.jobs.pool import open_pool
    from canvas.jobs.process_pool import ProcessPool
    from canvas.store import Store

    key = "flux-fill" if "flux-fill" in FAMILY_KINDS else FAMILY_KINDS[0]
    spec = JobSpec(Expand(left=64, right=64), request=PaintRequest(seed=11, **QUICK), tiler=tiler())
    wide = np.hstack([photo("astronaut", 512), photo("astronaut", 512)[:, ::-1]])

    def paint(painter=None, pool=None) -> np.ndarray:
        with Store.open(":memory:") as store:
            store.import_image(wide, 0, 0)
            result = run_job(store, painter, spec, pool=pool)
            assert result.status == "done" and len(result.windows) == 2
            assert store.history()[-1].params["family"] == key
            return store.read(0, Rect(-64, 0, 1152, 512))

    expected = paint(tiny.painter(key))
    pool = open_pool("diffusion", {"model": str(tiny.folder(key)), "dtype": "fp32", "offline": True}, painters=2)
    try:
        assert isinstance(pool, ProcessPool) and pool.size == 2 and pool.describe()["family"] == key
        assert np.array_equal(paint(pool=pool), expected)
    finally:
        pool.close()
