"""ControlNet inpainting on tiny random-weight models (tests/tiny_models.py): a ControlNet made
from the tiny UNet, saved as a folder and as one file in both layouts, loaded through the
loader users use; whole jobs through the runner, the command line and the server; the
control image; and one-line errors at start-up for every wrong ControlNet."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

import torch  # noqa: E402

from canvas.cli import main  # noqa: E402
from canvas.jobs import Inpaint, JobSpec, TilerSettings, run_job  # noqa: E402
from canvas.painters import CancelToken, PaintRequest, create_painter  # noqa: E402
from canvas.painters.diffusion import DiffusionSettings, ModelError  # noqa: E402
from canvas.painters.diffusion.controlnet import MASKED, Control  # noqa: E402
from canvas.store import Store  # noqa: E402
from pictures import half_masked, photo  # noqa: E402
from serving import Server, png  # noqa: E402
from tiny_models import TinyModels, save_controlnet  # noqa: E402

QUICK = {"steps": 2, "guidance": 1.0}


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


@pytest.fixture(scope="module")
def steered_by_the_folder(models) -> np.ndarray:
    """What the ControlNet loaded from its folder paints (seed 5): what every other way of
    giving the same ControlNet must paint too."""
    return paint(models.painter("sd", controlnet=True), *half_masked(), seed=5)



def paint(painter, image, mask, **request) -> np.ndarray:
    [out] = painter.paint(image, mask, PaintRequest(**{**QUICK, **request}), lambda _: None, CancelToken())
    return out.astype(int)


def test_the_control_image_is_the_known_pixels_with_the_masked_ones_marked():
    pixels = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1.0
    control = Control.of(None, pixels, mask, rows=2, scale=0.5, dtype=torch.float32)
    assert control.image.shape == (2, 3, 8, 8) and control.scale == 0.5
    assert (control.image[..., 4:] == MASKED).all()  # what the SD 1.5 inpaint ControlNet was trained on
    assert torch.allclose(control.image[..., :4], ((pixels + 1) / 2)[..., :4].expand(2, -1, -1, -1))


def test_a_controlnet_loads_into_the_controlnet_inpaint_pipeline_and_steers(models):
    steered = models.painter("sd", controlnet=True)
    assert type(steered.model.pipeline).__name__ == "StableDiffusionControlNetInpaintPipeline"
    assert steered.OPTIONS["controlnet_scale"].as_dict() == {"kind": "number", "label": "ControlNet scale", "min": 0.0,
                                                            "max": 2.0, "default": 1.0, "integer": False}
    assert "controlnet_scale" not in models.painter("sd").OPTIONS  # offered only with a ControlNet
    described = steered.describe()
    assert described["controlnet"] == str(models.controlnet("sd")) and described["controlnet_scale"] == 1.0
    image, mask = half_masked()
    alone, off = paint(models.painter("sd"), image, mask, seed=2), paint(steered, image, mask, seed=2, options={"controlnet_scale": 0.0})
    # Scale 0 is the model alone (two model instances may round a few sums apart) ...
    assert np.abs(alone - off).max() <= 1
    on, half = paint(steered, image, mask, seed=2), paint(steered, image, mask, seed=2, options={"controlnet_scale": 0.5})
    # ... and the ControlNet changes the masked part, more with more scale.
    assert np.abs(on - alone)[:, 256:].mean() > np.abs(half - alone)[:, 256:].mean() > 0.5


@pytest.mark.parametrize("original, suffix", [(False, ".safetensors"), (True, ".safetensors"), (True, ".pth")],
                         ids=["diffusers-layout", "original-layout", "original-pth"])
def test_a_single_controlnet_file_loads_offline_and_paints_as_the_folder(models, original, suffix, steered_by_the_folder):
    path = models.controlnet_file("sd", original, suffix)
    single = create_painter("diffusion", model=str(models.folder("sd")), controlnet=str(path), dtype="fp32", offline=True)
    loaded, folder = single.model.pipeline.controlnet.state_dict(), models.painter("sd", controlnet=True).model.pipeline.controlnet.state_dict()
    assert loaded.keys() == folder.keys() and all(torch.equal(loaded[k], folder[k]) for k in folder)  # every weight, bit for bit
    image, mask = half_masked()
    # The same weights at other memory addresses: a .pth lands 64-byte aligned, a .safetensors
    # file at its header's offset, and the CPU kernels sum in another order (a few pixels 1 apart).
    assert np.abs(paint(single, image, mask, seed=5) - steered_by_the_folder).max() <= 1


def test_a_controlnet_job_keeps_known_pixels_outside_the_band_and_records_its_scale(models, store):
    before = photo("astronaut", 512)
    store.import_image(before, 0, 0)
    mask = np.zeros((512, 512), bool)
    mask[200:330, 180:300] = True
    request = PaintRequest(seed=1, options={"controlnet_scale": 0.75}, **QUICK)
    result = run_job(store, models.painter("sd", controlnet=True),
                     JobSpec(Inpaint(mask), request=request, tiler=TilerSettings(window=512, pad=32, feather=24)))
    assert result.status == "done"
    after = store.read(0, store.bounds(0))[..., :3]
    band = np.zeros_like(mask)
    band[200 - 32 : 330 + 32, 180 - 32 : 300 + 32] = True
    assert np.array_equal(after[~band], before[~band])  # bit for bit outside the band
    assert not np.array_equal(after[mask], before[mask])
    params = store.history()[-1].params
    assert params["controlnet"] == str(models.controlnet("sd")) and params["controlnet_scale"] == 0.75


@pytest.mark.parametrize("kind", ["sdxl", "sd-inpaint"])
def test_sdxl_controlnets_and_inpainting_unets_paint_with_guidance_too(models, kind):
    """SDXL through its own ControlNet pipeline; a 9-channel UNet takes a ControlNet as
    diffusers' pipeline lets it (the ControlNet sees the 4 latent channels)."""
    steered = models.painter(kind, controlnet=True)
    expected = "StableDiffusionXLControlNetInpaintPipeline" if kind == "sdxl" else "StableDiffusionControlNetInpaintPipeline"
    assert type(steered.model.pipeline).__name__ == expected
    image, mask = half_masked()
    on = paint(steered, image, mask, seed=3, guidance=4.0)
    off = paint(steered, image, mask, seed=3, guidance=4.0, options={"controlnet_scale": 0.0})
    assert on.shape == (512, 512, 3) and np.abs(on - off)[:, 256:].mean() > 0.5
    if kind == "sdxl":  # SDXL ControlNets are mostly shared as one diffusers-layout file
        single = create_painter("diffusion", model=str(models.folder(kind)), controlnet=str(models.controlnet_file(kind)),
                                dtype="fp32", offline=True)
        theirs, ours = steered.model.controlnet.state_dict(), single.model.controlnet.state_dict()
        assert theirs.keys() == ours.keys() and all(torch.equal(theirs[key], ours[key]) for key in theirs)


def test_wrong_controlnets_are_one_clear_error_at_start_up(models, tmp_path):
    sd, sdxl = str(models.folder("sd")), str(models.folder("sdxl"))
    garbage = tmp_path / "controlnet.safetensors"
    garbage.write_bytes(b"not a checkpoint")
    nine = save_controlnet(tmp_path / "from-an-inpainting-unet", models.folder("sd-inpaint"))
    cases = [
        ({"model": sd, "controlnet": str(tmp_path / "missing")}, "--controlnet"),
        ({"model": sd, "controlnet": str(tmp_path / "missing")}, "no such file or folder"),
        ({"model": sd, "controlnet": sd}, "not a diffusers ControlNet folder"),
        ({"model": sd, "controlnet": str(models.folder("sd") / "unet")}, "not a ControlNet (its config.json is a 'UNet2DConditionModel'"),
        ({"model": sd, "controlnet": str(models.controlnet("sdxl"))}, "a ControlNet for SDXL (cross-attention 80), but the model is SD (cross-attention 32)"),
        ({"model": sdxl, "controlnet": str(models.controlnet("sd"))}, "a ControlNet for SD (cross-attention 32), but the model is SDXL"),
        ({"model": sd, "controlnet": str(models.controlnet_file("sdxl"))}, "a ControlNet for SDXL"),
        ({"model": sd, "controlnet": str(models.single_file("sd"))}, "not a ControlNet file"),
        ({"model": sd, "controlnet": str(garbage)}, "not a readable checkpoint"),
        ({"model": sd, "controlnet": str(nine)}, "takes 9 latent channels, expected 4"),
        ({"model": sd, "controlnet": "nobody/no-such-controlnet", "offline": True}, "not in the local Hugging Face cache"),
        ({"model": sd, "controlnet": str(models.controlnet("sd")), "controlnet_scale": 3}, "ControlNet scale must be 0.0 to 2.0"),
    ]
    for options, message in cases:
        with pytest.raises(ModelError) as error:
            create_painter("diffusion", dtype="fp32", **{"offline": True, **options})
        text = str(error.value)
        assert message in text and "\n" not in text, (options, text)
    with pytest.raises(ModelError, match="needs a model"):
        DiffusionSettings(model="", controlnet=str(models.controlnet("sd")))


def test_inpaint_with_a_controlnet_from_the_command_line(models, tmp_path, photo_file, astronaut, capsys):
    mask = np.zeros((512, 512), np.uint8)
    mask[100:200, 100:200] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out, canvas = tmp_path / "fixed.png", tmp_path / "work.canvas"
    args = ["inpaint", str(photo_file), "--mask", str(tmp_path / "mask.png"), "-o", str(out), "--canvas", str(canvas),
            "--painter", "diffusion", "--model", str(models.folder("sd")), "--offline",
            "--controlnet", str(models.controlnet_file("sd", original=True)), "--controlnet-scale", "0.6",
            "--dtype", "fp32", "--steps", "2", "--guidance", "1", "-q"]
    assert main(args) == 0
    fixed = np.asarray(Image.open(out))[..., :3]
    assert np.array_equal(fixed[300:], astronaut[300:]) and not np.array_equal(fixed[100:200, 100:200], astronaut[100:200, 100:200])
    assert "ControlNet scale: 0.6" in Image.open(out).text["parameters"]
    with Store.open(canvas) as store:
        assert store.history()[-1].params["controlnet_scale"] == 0.6
    capsys.readouterr()
    cases = [
        (["--controlnet", str(models.controlnet("sd"))], "add --painter diffusion --model MODEL"),
        (["--painter", "diffusion", "--controlnet", str(models.controlnet("sd"))], "needs --model"),
        (["--painter", "diffusion", "--model", str(models.folder("sd")), "--controlnet", str(models.controlnet("sd")),
          "--controlnet-scale", "-1"], "ControlNet scale must be"),
        (["--painter", "diffusion", "--model", str(models.folder("sd")), "--offline", "--dtype", "fp32",
          "--controlnet", str(models.controlnet("sdxl"))], "a ControlNet for SDXL"),
    ]
    for extra, message in cases:
        assert main(["expand", str(photo_file), "--down", "64", "-o", str(tmp_path / "o.png"), *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
    assert not (tmp_path / "o.png").exists()


def test_the_server_offers_the_scale_and_records_it(models, tmp_path):
    server = Server(tmp_path / "data", painters={"diffusion": models.painter("sd", controlnet=True)})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 512)))[0] == 201
        client = server.socket()
        option = client.welcome["painter_options"]["diffusion"]["controlnet_scale"]
        assert option["kind"] == "number" and (option["min"], option["max"], option["default"]) == (0.0, 2.0, 1.0)
        params = {"steps": 2, "guidance": 1.0, "seed": 3}
        answer = client.ask({"type": "expand", "right": 128, "params": {**params, "controlnet_scale": 2.5}})
        assert answer["type"] == "error", answer
        job = client.ask({"type": "expand", "right": 128, "params": {**params, "controlnet_scale": 0.4}})["job"]
        assert client.next("job.done", job=job, timeout=60)["status"] == "done"
        revision = client.ask({"type": "history"})["revisions"][-1]["params"]
        assert revision["controlnet_scale"] == 0.4 and revision["controlnet"] == str(models.controlnet("sd"))
        client.close()
    finally:
        server.stop()


def test_serve_loads_the_controlnet_with_the_model(models, tmp_path, monkeypatch):
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app))
    args = ["serve", "--data", str(tmp_path / "data"), "--painter", "diffusion", "--model", str(models.folder("sd")),
            "--offline", "--dtype", "fp32", "--controlnet", str(models.controlnet_file("sd")), "--controlnet-scale", "1.5"]
    assert main(args) == 0
    painter = served["app"].state.server.painters["diffusion"]
    assert painter.model.controlnet is not None and painter.OPTIONS["controlnet_scale"].default == 1.5
    assert main(["serve", "--data", str(tmp_path / "data"), "--controlnet", str(models.controlnet("sd"))]) == 2


def test_a_hub_id_is_found_in_the_local_hugging_face_cache_offline(models, tmp_path, monkeypatch, steered_by_the_folder):
    """As `lllyasviel/control_v11p_sd15_inpaint` is once downloaded: the cache's own layout."""
    import shutil

    import huggingface_hub

    snapshot = tmp_path / "hub" / "models--tiny--controlnet-inpaint" / "snapshots" / ("0" * 40)
    shutil.copytree(models.controlnet("sd"), snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    painter = create_painter("diffusion", model=str(models.folder("sd")), controlnet="tiny/controlnet-inpaint",
                             offline=True, dtype="fp32")
    assert painter.describe()["controlnet"] == "tiny/controlnet-inpaint"
    image, mask = half_masked()
    assert np.array_equal(paint(painter, image, mask, seed=5), steered_by_the_folder)
