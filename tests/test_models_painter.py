"""A model per job (canvas/painters/diffusion/models_painter.py): the diffusion painter over
a models library, tiny models in an A1111 and a ComfyUI folder: the default model paints
as the plain painter does, a job names another by its library name, loading is reported,
switching back loads nothing, the LRU evicts and reloads, and painter processes load
models by name too."""

from __future__ import annotations

import numpy as np
import pytest

from canvas.jobs import Expand, JobSpec, ModelLoading, WindowProgress, run_job
from canvas.jobs.pool import open_pool
from canvas.library import Library
from canvas.painters import CancelToken, PaintRequest, create_painter
from canvas.painters.diffusion import ModelError
from canvas.painters.diffusion.models_painter import ModelsPainter, model_bytes
from canvas.painters.diffusion.settings import DiffusionSettings
from canvas.store import Store
from library_folders import comfy, small_a1111_folder, tiny, webui  # noqa: F401  fixtures

IMAGE = np.full((128, 128, 3), 120, np.uint8)
MASK = np.zeros((128, 128), bool)
MASK[32:96, 32:96] = True


def settings(folder, model="sd15", **extra) -> DiffusionSettings:
    return DiffusionSettings(model=model, models=(str(folder),), dtype="fp32", offline=True, **extra)


def paint(painter, model=None, prompt="a lake", reports=None) -> np.ndarray:
    request = PaintRequest(prompt=prompt, seed=5, steps=3, model=model)
    progress = reports.append if reports is not None else (lambda report: None)
    return painter.paint(IMAGE, MASK, request, progress, CancelToken())[0]


@pytest.fixture(scope="module")
def painter(webui, tmp_path_factory) -> ModelsPainter:
    return ModelsPainter(settings(webui), Library([webui], cache=tmp_path_factory.mktemp("cache") / "library.json"))


def test_the_default_model_paints_as_the_plain_painter_on_the_same_folder(painter, tiny):
    plain = create_painter("diffusion", model=str(tiny.folder("sd-inpaint")), dtype="fp32", offline=True)
    assert np.array_equal(paint(painter), paint(plain))
    assert painter.describe()["model"] == "sd15" and painter.native_window == 512


def test_a_job_names_another_model_its_load_is_reported_and_switching_back_loads_nothing(painter):
    before = paint(painter)
    reports = []
    xl = paint(painter, model="tiny-xl", reports=reports)  # a bare name finds xl/tiny-xl
    loading = [(r.loading, r.step, r.steps) for r in reports if r.loading]
    assert loading == [("xl/tiny-xl", 0, 1), ("xl/tiny-xl", 1, 1)]
    assert not np.array_equal(xl, before)
    loads = painter.cache.loads
    reports.clear()
    assert np.array_equal(paint(painter), before) and np.array_equal(paint(painter, model="xl/tiny-xl", reports=reports), xl)
    assert painter.cache.loads == loads and not any(r.loading for r in reports)


def test_an_unknown_model_is_one_line(painter):
    with pytest.raises(ModelError, match="no model named 'nothing-here'") as caught:
        paint(painter, model="nothing-here")
    assert "\n" not in str(caught.value)
    with pytest.raises(ModelError, match="library name"):
        paint(painter, model="../sd15")


def test_a_model_and_a_lora_added_since_the_painter_scanned_are_found(tiny, tmp_path):
    # Under `serve` the server's library and each painter's scan the folders apart: after the
    # server's rescan a job names what the painter has not seen yet, and it scans again.
    import shutil

    folder = small_a1111_folder(tiny, tmp_path / "webui")
    lora = folder / "models" / "Lora" / "ink.safetensors"
    shutil.move(lora, tmp_path / "ink.safetensors")
    painter = ModelsPainter(settings(folder), Library([folder], cache=None))
    with pytest.raises(ModelError, match="no model named 'added'"):
        paint(painter, model="added")
    shutil.copytree(folder / "models" / "Stable-diffusion" / "sd15-plain", folder / "models" / "Stable-diffusion" / "added")
    shutil.move(tmp_path / "ink.safetensors", lora)
    added = paint(painter, model="added")
    assert painter.library.find_model("added").name == "added"
    assert not np.array_equal(paint(painter, model="added", prompt="a lake <lora:ink:1>"), added)


def test_the_lru_evicts_the_least_recent_and_loads_it_again_the_same(comfy, tmp_path):
    painter = ModelsPainter(settings(comfy, keep_models=1), Library([comfy], cache=None))
    first = paint(painter)
    paint(painter, model="tiny-xl")
    assert painter.cache.names == ["tiny-xl"]
    assert np.array_equal(paint(painter), first)  # loaded again
    assert painter.cache.names == ["sd15"] and painter.cache.loads == 3


def test_a_byte_budget_keeps_what_fits(comfy):
    probe = ModelsPainter(settings(comfy), Library([comfy], cache=None))
    size = model_bytes(probe.painter_for(None))
    budget_gb = size * 1.5 / 1024**3  # room for the default model, not for two
    painter = ModelsPainter(settings(comfy, model_memory=budget_gb), Library([comfy], cache=None))
    paint(painter, model="tiny-xl")
    assert painter.cache.names == ["tiny-xl"] and painter.cache.bytes <= budget_gb * 1024**3


def test_painter_processes_load_a_model_by_name(comfy, tmp_path, monkeypatch):
    monkeypatch.setenv("BOUNDLESS_CACHE_DIR", str(tmp_path / "cache"))
    options = {"model": "sd15", "models": (str(comfy),), "dtype": "fp32", "offline": True}
    events = []
    with open_pool("diffusion", options, painters=2) as pool, Store.open(":memory:") as store:
        store.import_image(np.full((64, 64, 4), 200, np.uint8), 0, 0)
        spec = JobSpec(Expand(right=64), request=PaintRequest(prompt="a lake", seed=1, steps=2, model="tiny-xl"))
        result = run_job(store, None, spec, pool=pool, on_event=events.append)
        assert store.history()[-1].params["model"] == "tiny-xl"
    assert result.status == "done"
    assert [e.loaded for e in events if isinstance(e, ModelLoading)] == [False, True]
    assert any(isinstance(e, WindowProgress) for e in events)


def test_a_painter_with_a_library_of_its_own_scans_again_for_a_name_it_does_not_know(tiny, tmp_path):
    """A painter process or Ray actor scans the folders for itself: a model or LoRA added
    since (which the server found in a rescan of its own) is found by scanning again."""
    import shutil

    from library_folders import comfy_folder
    from tiny_loras import save_diffusers_lora

    folder = comfy_folder(tiny, tmp_path / "ComfyUI")
    painter = ModelsPainter(settings(folder), Library([folder], cache=None))
    before = paint(painter)
    save_diffusers_lora(tiny.folder("sd-inpaint"), folder / "models" / "loras" / "fresh.safetensors", seed=9)
    shutil.copytree(tiny.folder("sd-inpaint"), folder / "models" / "checkpoints" / "added")
    assert not np.array_equal(paint(painter, prompt="a lake <lora:fresh:0.8>"), before)
    assert np.array_equal(paint(painter, model="added"), before)  # the same weights under another name
    with pytest.raises(ModelError, match="no model named 'nowhere'"):
        paint(painter, model="nowhere")
