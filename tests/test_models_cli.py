"""Models and LoRAs from the command line: `--models DIR --model NAME` on every job command,
LoRA tags in `--prompt`, one line for a LoRA that is not there or not of the model's
family, and the history naming the model and the LoRAs with A1111's hashes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from canvas.cli import main
from canvas.store import Store
from library_folders import tiny, webui  # noqa: F401  fixtures

FAST = ["--dtype", "fp32", "--steps", "2", "--guidance", "1", "-q", "--offline", "--seed", "4"]


@pytest.fixture(autouse=True)
def scan_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOUNDLESS_CACHE_DIR", str(tmp_path / "cache"))


def expand(webui, photo_file, out, prompt, *extra) -> int:
    return main(["expand", str(photo_file), "--right", "64", "-o", str(out), "--painter", "diffusion",
                 "--models", str(webui), "--model", "sd15", "--prompt", prompt, *FAST, *extra])


def test_a_library_model_by_name_with_a_lora_in_the_prompt(webui, photo_file, tmp_path):
    plain, inked, canvas = tmp_path / "plain.png", tmp_path / "inked.png", tmp_path / "work.canvas"
    assert expand(webui, photo_file, plain, "a wall") == 0
    assert expand(webui, photo_file, inked, "a wall <lora:kohya-ink:0.5>", "--canvas", str(canvas)) == 0
    assert not np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(inked)))
    with Store.open(canvas) as store:
        params = store.history()[-1].params
    assert params["model"] == "sd15" and params["prompt"] == "a wall <lora:kohya-ink:0.5>"
    assert list(params["loras"]) == ["kohya-ink"] and len(params["loras"]["kohya-ink"]) == 12


@pytest.mark.parametrize("prompt, message", [
    ("a wall <lora:nowhere:1>", "no lora named 'nowhere'"),
    ("a wall <lora:xl-ink:1>", "LoRA 'xl-ink' is for SDXL"),
])
def test_a_missing_or_foreign_lora_is_one_line_and_nothing_is_written(webui, photo_file, tmp_path, capsys, prompt, message):
    out = tmp_path / "out.png"
    assert expand(webui, photo_file, out, prompt) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and not out.exists()


def test_a_model_that_is_not_in_the_library_is_one_line(webui, photo_file, tmp_path, capsys):
    code = main(["expand", str(photo_file), "--right", "64", "-o", str(tmp_path / "out.png"), "--painter", "diffusion",
                 "--models", str(webui), "--model", "nothing-here", *FAST])
    error = capsys.readouterr().err
    assert code == 2 and "no model named 'nothing-here'" in error and error.count("\n") == 1


def test_a_single_file_model_is_recorded_with_a1111s_model_hash(webui, tiny, photo_file, tmp_path):
    import hashlib

    canvas = tmp_path / "work.canvas"
    code = main(["expand", str(photo_file), "--right", "64", "--canvas", str(canvas), "--painter", "diffusion",
                 "--models", str(webui), "--model", "sd15-file", "--model-config", str(tiny.config_only("sd-inpaint")),
                 "--prompt", "a wall <lora:ink>", *FAST])
    assert code == 0
    with Store.open(canvas) as store:
        params = store.history()[-1].params
    path = webui / "models" / "Stable-diffusion" / "sd15-file.safetensors"
    assert params["model"] == "sd15-file" and params["model_hash"] == hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    assert list(params["loras"]) == ["ink"]


@pytest.mark.parametrize("command", [
    ["grow", "--aspect", "2:1", "--stage-prompt", "a field", "--stage-prompt", "a path <lora:xl-ink:1>"],
    ["zoomout", "--at-step", "2:hills <lora:xl-ink>"],  # FAST gives --steps 2: zoom steps here
])
def test_a_foreign_lora_in_a_stage_prompt_is_one_line_and_nothing_is_written(webui, photo_file, tmp_path, capsys,
                                                                          command):
    out, canvas = tmp_path / "out.png", tmp_path / "work.canvas"
    code = main([command[0], str(photo_file), *command[1:], "-o", str(out), "--canvas", str(canvas), "--painter",
                 "diffusion", "--models", str(webui), "--model", "sd15", "--prompt", "a wall", *FAST])
    error = capsys.readouterr().err
    assert code == 2 and "LoRA 'xl-ink' is for SDXL" in error and error.count("\n") == 1
    assert not out.exists() and not canvas.exists()


def test_serve_checks_jobs_against_the_painters_own_library(webui, tmp_path, monkeypatch):
    """One library for the server and its in-process painter: a `rescan` reaches the painter."""
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app))
    assert main(["serve", "--data", str(tmp_path / "data"), "--painter", "diffusion", "--models", str(webui),
                 "--model", "sd15", "--dtype", "fp32", "--offline"]) == 0
    state = served["app"].state.server
    assert state.library is state.painters["diffusion"].library is not None
