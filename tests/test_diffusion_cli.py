"""The diffusion painter through the command line and the server, on a tiny model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from canvas.cli import main  # noqa: E402
from canvas.painters.diffusion import MASKED_CONTENT, SCHEDULERS  # noqa: E402
from canvas.store import Store  # noqa: E402
from pictures import photo  # noqa: E402
from serving import Server, png  # noqa: E402
from test_cli import run  # noqa: E402
from tiny_models import TinyModels  # noqa: E402

FAST = ["--dtype", "fp32", "--steps", "2", "--guidance", "1", "-q"]  # bf16 is slow for 8-channel toys


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


def test_expand_with_the_diffusion_painter_end_to_end(models, tmp_path, photo_file, astronaut):
    out, canvas = tmp_path / "tall.png", tmp_path / "work.canvas"
    args = ["expand", str(photo_file), "--down", "256", "-o", str(out), "--canvas", str(canvas), "--painter", "diffusion",
            "--model", str(models.folder("sd-inpaint")), "--offline", "--prompt", "a path", "--seed", "5",
            "--scheduler", "dpm++-2m-karras", *FAST]
    assert main(args) == 0
    image = Image.open(out)
    assert image.size == (512, 768)
    parameters = image.text["parameters"]
    assert parameters.startswith("a path\n") and "Painter: diffusion" in parameters and "DPM++ 2M Karras" in parameters
    pixels = np.asarray(image)
    assert np.array_equal(pixels[: 512 - 64, :, :3], astronaut[: 512 - 64])
    with Store.open(canvas) as store:
        params = store.history()[-1].params
    assert params["model"] == str(models.folder("sd-inpaint")) and params["steps"] == 2 and params["window"] == 512


def test_inpaint_with_original_content_and_a_single_file(models, tmp_path, photo_file, astronaut):
    mask = np.zeros((512, 512), np.uint8)
    mask[100:200, 100:200] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "fixed.png"
    args = ["inpaint", str(photo_file), "--mask", str(tmp_path / "mask.png"), "-o", str(out), "--painter", "diffusion",
            "--model", str(models.single_file("sd")), "--model-config", str(models.config_only("sd")), "--offline",
            "--masked-content", "original", "--strength", "0.5", *FAST]
    assert main(args) == 0
    fixed = np.asarray(Image.open(out))[..., :3]
    assert np.array_equal(fixed[300:], astronaut[300:])
    assert "Prefill: original" in Image.open(out).text["parameters"]


def test_an_exported_png_reads_back_in_a1111_readers(models, tmp_path, photo_file):
    """sd-parsers takes the PNG for A1111's and finds every setting A1111 would write."""
    from sd_parsers import ParserManager
    from sd_parsers.data import Generators

    model, canvas, out = models.single_file("sd-inpaint"), tmp_path / "work.canvas", tmp_path / "exported.png"
    assert main(["expand", str(photo_file), "--right", "128", "--canvas", str(canvas), "--painter", "diffusion",
                 "--model", str(model), "--model-config", str(models.config_only("sd-inpaint")), "--offline",
                 "--prompt", "a quiet harbour, at dawn", "--negative-prompt", "blurry", "--seed", "1234",
                 "--scheduler", "euler", "--dtype", "fp32", "--steps", "2", "--guidance", "7", "-q"]) == 0
    assert main(["export", "--canvas", str(canvas), "-o", str(out)]) == 0

    info = ParserManager().parse(out)
    assert info is not None and info.generator == Generators.AUTOMATIC1111
    [sampler] = info.samplers
    assert [p.value for p in sampler.prompts] == ["a quiet harbour, at dawn"]
    assert [p.value for p in sampler.negative_prompts] == ["blurry"]
    assert sampler.name == "Euler"
    assert sampler.parameters == {"cfg_scale": "7", "seed": "1234", "steps": "2"}
    expected_hash = hashlib.sha256(model.read_bytes()).hexdigest()[:10]
    assert (sampler.model.name, sampler.model.hash) == ("sd-inpaint", expected_hash)
    assert info.metadata["Size"] == "640x512" and info.metadata["Denoising strength"] == "1"
    assert str(tmp_path) not in Image.open(out).text["parameters"]  # a model is named, never a path


def test_diffusion_mistakes_are_one_line_and_exit_2(models, tmp_path, photo_file, capsys):
    out = str(tmp_path / "o.png")
    model = str(models.folder("sd"))
    cases = [
        (["--painter", "diffusion"], "needs --model"),
        (["--model", model], "add --painter diffusion"),
        (["--painter", "diffusion", "--model", model, "--scheduler", "Heun"], "unknown scheduler"),
        (["--painter", "diffusion", "--model", model, "--masked-content", "blank"], "unknown masked content"),
        (["--painter", "diffusion", "--model", model, "--steps", "0"], "--steps must be between"),
        (["--painter", "diffusion", "--model", model, "--strength", "1.5"], "--strength must be between"),
        (["--painter", "diffusion", "--model", str(tmp_path / "nowhere.safetensors")], "no such file"),
    ]
    for extra, message in cases:
        assert main(["expand", str(photo_file), "--down", "64", "-o", out, *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
    # As a user sees it: a real process, one line, no traceback, nothing written.
    done = run("expand", photo_file, "--down", "64", "-o", out, "--painter", "diffusion", "--model", tmp_path, check=2)
    assert done.stderr.count("\n") == 1 and "not a diffusers folder" in done.stderr
    assert not (tmp_path / "o.png").exists()


def test_serve_builds_the_diffusion_painter_from_its_options(models, tmp_path, monkeypatch):
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app))
    args = ["serve", "--data", str(tmp_path / "data"), "--painter", "diffusion", "--painter", "patchmatch",
            "--model", str(models.folder("sd")), "--dtype", "fp32", "--scheduler", "UniPC", "--soft-mask", "8"]
    assert main(args) == 0
    painters = served["app"].state.server.painters
    assert list(painters) == ["diffusion", "patchmatch"]
    diffusion = painters["diffusion"]
    assert diffusion.settings.scheduler == "UniPC" and diffusion.OPTIONS["soft_mask"].default == 8


def test_the_server_paints_with_it_and_sends_previews(models, tmp_path):
    server = Server(tmp_path / "data", painters={"diffusion": models.painter("sdxl-inpaint")})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 512)))[0] == 201
        client = server.socket()
        options = client.welcome["painter_options"]["diffusion"]
        assert options["soft_mask"]["max"] == 128 and options["soft_mask"]["kind"] == "number"
        assert options["scheduler"] == {"kind": "choice", "label": "Scheduler", "choices": list(SCHEDULERS), "default": "Euler a"}
        assert options["masked_content"]["choices"] == list(MASKED_CONTENT)
        assert client.welcome["painter_windows"] == {"diffusion": 1024}  # SDXL's native size
        params = {"prompt": "sky", "steps": 2, "guidance": 1.0, "seed": 3, "soft_mask": 16}
        for bad in ({"scheduler": "Heun"}, {"scheduler": "euler a"}, {"masked_content": "blank"}):
            answer = client.ask({"type": "expand", "up": 128, "params": {**params, **bad}})
            assert answer["type"] == "error" and answer["code"] == "bad_choice" and "one of" in answer["message"], answer
            assert client.ask({"type": "ping"})["type"] == "ok"
        params.update(scheduler="DDIM", masked_content="latent nothing", strength=0.9)
        job = client.ask({"type": "expand", "up": 128, "params": params})["job"]
        done = client.next("job.done", job=job, timeout=60)
        assert done["status"] == "done"
        assert any(m["type"] == "preview" and m["w"] == 64 and len(m["payload"]) == 64 * 64 * 3 for m in client.seen)
        revision = client.ask({"type": "history"})["revisions"][-1]["params"]
        assert revision["painter"] == "diffusion" and revision["soft_mask"] == 16 and revision["prompt"] == "sky"
        assert revision["scheduler"] == "DDIM" and revision["masked_content"] == "latent nothing"
        assert revision["window"] == 1024 and revision["strength"] == 0.9
        client.close()
    finally:
        server.stop()
