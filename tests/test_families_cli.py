"""The pipeline families through the command line and `serve`, on tiny models
(tests/tiny_families.py): expand with each, the family's default steps and guidance, and
one-line mistakes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

import torch  # noqa: E402

from canvas.cli import main  # noqa: E402
from canvas.painters.diffusion.families import FAMILIES  # noqa: E402
from canvas.store import Store  # noqa: E402
from tiny_families import FAMILY_KINDS, TinyFamilies  # noqa: E402

FAST = ["--dtype", "fp32", "--steps", "2", "--guidance", "3.5", "-q"]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyFamilies:
    return TinyFamilies.shared(tmp_path_factory)


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_expand_with_each_family(tiny, key, tmp_path, photo_file, astronaut):
    out, canvas = tmp_path / "tall.png", tmp_path / "work.canvas"
    args = ["expand", str(photo_file), "--down", "128", "-o", str(out), "--canvas", str(canvas), "--painter", "diffusion",
            "--model", str(tiny.folder(key)), "--offline", "--prompt", "a path", "--seed", "5", "--window", "512", *FAST]
    assert main(args) == 0
    image = Image.open(out)
    assert image.size == (512, 640)
    assert np.array_equal(np.asarray(image)[: 512 - 64, :, :3], astronaut[: 512 - 64])  # outside the band
    parameters = image.text["parameters"]
    assert "Painter: diffusion" in parameters and key in parameters
    with Store.open(canvas) as store:
        params = store.history()[-1].params
    assert params["family"] == key and params["model"] == str(tiny.folder(key))
    assert params["steps"] == 2 and params["guidance"] == 3.5


def test_steps_and_guidance_default_to_the_familys(tiny, tmp_path, photo_file):
    key = min(FAMILY_KINDS, key=lambda k: FAMILIES[k].steps)  # the quickest: a step-distilled family
    family = FAMILIES[key]
    canvas = tmp_path / "work.canvas"
    args = ["expand", str(photo_file), "--right", "64", "--canvas", str(canvas), "--painter", "diffusion",
            "--model", str(tiny.folder(key)), "--offline", "--window", "512", "--dtype", "fp32", "-q"]
    assert main(args) == 0
    with Store.open(canvas) as store:
        params = store.history()[-1].params
    assert params["steps"] == family.steps and params["guidance"] == family.guidance


def test_family_mistakes_are_one_line_and_exit_2(tiny, tmp_path, photo_file, capsys):
    key = FAMILY_KINDS[0]
    folder = str(tiny.folder(key))
    out = str(tmp_path / "o.png")
    cases = [
        (["--model", str(tiny.gguf(key, "Q8_0"))], "give --model-config"),
        (["--model", folder, "--controlnet", folder], "--controlnet steers SD 1.x/2.x/XL"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--model", folder, "--offload", "model"], "no CUDA GPU"))
    for extra, message in cases:
        assert main(["expand", str(photo_file), "--down", "64", "-o", out, "--painter", "diffusion", *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
    assert not (tmp_path / "o.png").exists()


def test_serve_builds_a_family_painter(tiny, tmp_path, monkeypatch):
    import uvicorn

    key = FAMILY_KINDS[0]
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app))
    args = ["serve", "--data", str(tmp_path / "data"), "--painter", "diffusion", "--model", str(tiny.folder(key)),
            "--dtype", "fp32", "--offline"]
    assert main(args) == 0
    painter = served["app"].state.server.painters["diffusion"]
    assert painter.family is FAMILIES[key] and painter.defaults["steps"] == FAMILIES[key].steps
    assert painter.label.startswith(FAMILIES[key].label)
