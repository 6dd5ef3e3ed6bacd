"""The Stable Diffusion painter on tiny random-weight models (tests/tiny_models.py): loading
every kind from a folder and from one file, whole jobs, candidates, seeds, cancel,
previews, samplers, masked content, and one-line errors for wrong models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("diffusers")

from canvas.jobs import Expand, Inpaint, JobSpec, TilerSettings, WindowProgress, run_job  # noqa: E402
from canvas.painters import CancelToken, Cancelled, PaintRequest, create_painter  # noqa: E402
from canvas.painters.diffusion import MASKED_CONTENT, SCHEDULERS, DiffusionSettings, ModelError  # noqa: E402
from pictures import EchoPainter, half_masked, photo, rgba  # noqa: E402
from tiny_models import KINDS, TinyModels  # noqa: E402

QUICK = {"steps": 2, "guidance": 1.0}  # no guidance: one UNet pass a step


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)



def paint(painter, image, mask, **request):
    seen = []
    out = painter.paint(image, mask, PaintRequest(**{**QUICK, **request}), seen.append, CancelToken())
    return out, seen


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_loads_from_its_folder_and_says_what_it_is(models, kind):
    painter = models.painter(kind)
    expected = {"sd-inpaint": "sd-inpainting", "sd": "sd", "sdxl-inpaint": "sdxl-inpainting", "sdxl": "sdxl"}[kind]
    assert painter.model.kind == expected
    assert painter.native_window == (1024 if kind.startswith("sdxl") else 512)
    assert painter.repaints_band and painter.name == "diffusion"
    described = painter.describe()
    assert described["painter"] == "diffusion" and described["model"] == str(models.folder(kind))
    assert described["scheduler"] == "Euler a" and described["dtype"] == "float32"


@pytest.mark.parametrize("kind", ["sd-inpaint", "sdxl-inpaint"])
def test_a_single_file_loads_offline_with_a_config_folder_and_paints_the_same(models, kind):
    config = models.config_only(kind)  # no weights in it: they must come from the file
    single = create_painter("diffusion", model=str(models.single_file(kind)), model_config=str(config),
                            offline=True, dtype="fp32")
    assert single.model.kind == models.painter(kind).model.kind
    image, mask = half_masked()
    ours, theirs = (paint(p, image, mask, seed=4)[0][0].astype(int) for p in (single, models.painter(kind)))
    # The same weights; two model instances may round a few float sums apart (memory alignment).
    assert np.abs(ours - theirs).max() <= 1 and (ours != theirs).mean() < 0.001


def test_wrong_models_are_one_clear_error_at_construction(models, tmp_path):
    garbage = tmp_path / "model.safetensors"
    garbage.write_bytes(b"not a checkpoint at all")
    cases = [
        ({"model": str(tmp_path / "missing")}, "no such file or folder"),
        ({"model": str(tmp_path)}, "not a diffusers folder"),
        ({"model": str(garbage), "model_config": str(models.config_only("sd"))}, "not a readable .safetensors"),
        ({"model": str(models.single_file("sd")), "offline": True}, "needs --model-config"),
        ({"model": "nobody/no-such-model", "offline": True}, "not in the local Hugging Face cache"),
        ({"model": str(models.folder("sd")), "scheduler": "Heun"}, "unknown scheduler 'Heun'"),
        ({"model": str(models.folder("sd")), "dtype": "fp16"}, "needs a GPU"),
        ({"model": str(models.folder("sd")), "vae": str(tmp_path / "nope")}, "no such file or folder"),
        ({"model": str(models.folder("sd")), "colour": "red"}, "unexpected keyword"),
    ]
    for options, message in cases:
        with pytest.raises(ModelError) as error:
            create_painter("diffusion", dtype=options.pop("dtype", "fp32"), **options)
        text = str(error.value)
        assert message in text and "\n" not in text, (options, text)


@pytest.mark.parametrize("kind", KINDS)
def test_an_expand_job_keeps_known_pixels_outside_the_band(models, store, kind):
    before = photo("astronaut", 512)
    store.import_image(before, 0, 0)
    spec = JobSpec(Expand(down=192), request=PaintRequest(seed=1, **QUICK), tiler=TilerSettings(window=512, pad=64))
    result = run_job(store, models.painter(kind), spec)
    assert result.status == "done" and result.windows_done == len(result.windows) >= 1
    after = store.read(0, store.bounds(0))
    assert after.shape[:2] == (512 + 192, 512) and (after[..., 3] == 255).all()
    assert np.array_equal(after[: 512 - 64, :, :3], before[: 512 - 64])  # outside the band, bit for bit
    assert after[512:, :, :3].std() > 2  # painted, not a flat fill
    assert store.history()[-1].params["painter"] == "diffusion"


def test_candidates_differ_and_the_same_seed_gives_the_same_pixels(models):
    painter = models.painter("sd-inpaint")
    image, mask = half_masked()
    (first, second), _ = paint(painter, image, mask, seed=9, candidates=2)
    assert not np.array_equal(first[mask], second[mask])
    [again], _ = paint(painter, image, mask, seed=9)
    assert np.array_equal(first, again)  # candidate 0 does not depend on how many are asked for
    [other], _ = paint(painter, image, mask, seed=10)
    assert not np.array_equal(first, other)


def test_candidates_of_a_job_are_composited_over_the_same_known_pixels(models, store):
    store.import_image(photo("astronaut", 512), 0, 0)
    staged = []

    def select(index, window, painted):
        staged.append(painted)
        return 1

    spec = JobSpec(Expand(right=128), request=PaintRequest(seed=2, candidates=2, **QUICK))
    assert run_job(store, models.painter("sd"), spec, select=select).status == "done"
    first, second = staged[0].candidates
    changed = staged[0].changed
    assert np.array_equal(first[~changed], second[~changed]) and not np.array_equal(first[changed], second[changed])


def test_previews_arrive_as_small_pictures_with_the_steps(models):
    image, mask = half_masked()
    _, seen = paint(models.painter("sdxl-inpaint"), image, mask, steps=4, candidates=2)
    assert [p.step for p in seen] == list(range(1, 9)) and {p.steps for p in seen} == {8}
    previews = [p.preview for p in seen if p.preview is not None]
    assert previews and all(p.shape == (64, 64, 3) and p.dtype == np.uint8 for p in previews)


def test_cancel_stops_within_one_step(models):
    cancel = CancelToken()
    seen = []

    def progress(p):
        seen.append(p)
        cancel.cancel()

    image, mask = half_masked()
    with pytest.raises(Cancelled):
        models.painter("sd-inpaint").paint(image, mask, PaintRequest(steps=6, guidance=1.0), progress, cancel)
    assert len(seen) == 1


def test_a_job_cancelled_mid_window_commits_nothing(models, store):
    before = photo("astronaut", 512)
    store.import_image(before, 0, 0)
    cancel = CancelToken()

    def on_event(event):
        if isinstance(event, WindowProgress) and event.step == 2:
            cancel.cancel()

    spec = JobSpec(Expand(down=256), request=PaintRequest(steps=5, guidance=1.0))
    result = run_job(store, models.painter("sd"), spec, on_event=on_event, cancel=cancel)
    assert result.status == "cancelled" and result.windows_done == 0
    assert np.array_equal(store.read(0, store.bounds(0)), rgba(before))
    assert store.history()[-1].status == "cancelled"


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_paints(models, scheduler):
    painter = models.painter("sd")
    image, mask = half_masked()
    for strength in (1.0, 0.5):
        [out], seen = paint(painter, image, mask, steps=3, strength=strength, options={"scheduler": scheduler})
        assert out.shape == image.shape and len(seen) == (3 if strength == 1 else 1)
        assert seen[-1].preview is not None and 0 < out.std()


def test_masked_content_changes_the_start_below_full_strength(models):
    painter = models.painter("sd-inpaint")
    image, mask = half_masked()
    outputs = {}
    for content in MASKED_CONTENT:
        [outputs[content]], _ = paint(painter, image, mask, strength=0.6, steps=4, options={"masked_content": content})
    assert np.array_equal(outputs["fill"], outputs["original"])  # the job's prefill tells them apart
    assert not np.array_equal(outputs["fill"], outputs["latent noise"])
    assert not np.array_equal(outputs["fill"], outputs["latent nothing"])
    full = [paint(painter, image, mask, options={"masked_content": c})[0][0] for c in ("fill", "latent nothing")]
    assert np.array_equal(*full)  # at strength 1 every mode starts from pure noise


def job_of(painter, target, params: dict):
    """A job as the server makes it from a command's `params` (protocol.job_spec), run on
    a fresh canvas holding the photo: the canvas's pixels after it, and its recorded params."""
    from canvas.server import protocol
    from canvas.store import Store

    options = {painter.name: dict(painter.OPTIONS)}
    spec, _, _ = protocol.job_spec({"params": {**QUICK, **params}}, target, options, {painter.name: painter.native_window})
    with Store.open(":memory:") as store:
        store.import_image(photo("astronaut", 512), 0, 0)
        result = run_job(store, painter, spec)
        assert result.status == "done" and result.windows_done == len(result.windows)
        return store.read(0, store.bounds(0)), store.history()[-1].params


def test_a_jobs_scheduler_is_the_one_it_names_and_is_recorded(models):
    painter = models.painter("sd")
    painted = {}
    for scheduler in ("Euler", "DDIM", "Euler a"):
        painted[scheduler], params = job_of(painter, Expand(right=128), {"seed": 4, "scheduler": scheduler})
        assert params["scheduler"] == scheduler and params["steps"] == 2
    assert not np.array_equal(painted["Euler"], painted["DDIM"])
    default, params = job_of(painter, Expand(right=128), {"seed": 4})  # none named: the painter's own
    assert params["scheduler"] == painter.settings.scheduler == "Euler a" and np.array_equal(default, painted["Euler a"])


@pytest.mark.parametrize("content", MASKED_CONTENT)
def test_each_masked_content_mode_runs_a_whole_job(models, content):
    mask = np.zeros((512, 512), bool)
    mask[160:352, 160:352] = True
    painter = models.painter("sd-inpaint")
    after, params = job_of(painter, Inpaint(mask), {"seed": 2, "strength": 0.6, "masked_content": content})
    assert params["masked_content"] == content and params["strength"] == 0.6
    # "original" starts from the canvas's own pixels: the job's prefill; the others from the tiler's fill.
    assert params["prefill"] == ("original" if content == "original" else "edge")
    before = photo("astronaut", 512)
    band = np.zeros((512, 512), bool)
    band[160 - 64 : 352 + 64, 160 - 64 : 352 + 64] = True
    assert np.array_equal(after[~band][:, :3], before[~band])  # known pixels outside the band, bit for bit
    assert not np.array_equal(after[mask][:, :3], before[mask])
    if content != "fill":
        fill, _ = job_of(painter, Inpaint(mask), {"seed": 2, "strength": 0.6, "masked_content": "fill"})
        assert not np.array_equal(after, fill)


def test_the_original_prefill_hands_the_painter_the_pictures_own_pixels():
    from canvas.store import Store

    before = photo("astronaut", 512)
    mask = np.zeros((512, 512), bool)
    mask[200:300, 200:300] = True
    starts = {}

    class Recording(EchoPainter):
        def paint(self, image, mask, request, progress, cancel):
            starts[prefill] = image.copy()
            return super().paint(image, mask, request, progress, cancel)

    for prefill in ("edge", "original"):
        with Store.open(":memory:") as store:
            store.import_image(before, 0, 0)
            [window] = run_job(store, Recording(), JobSpec(Inpaint(mask), tiler=TilerSettings(prefill=prefill))).windows
        x, y = 200 - window.rect.x, 200 - window.rect.y
        starts[prefill] = starts[prefill][y : y + 100, x : x + 100]
    assert np.array_equal(starts["original"], before[200:300, 200:300])
    assert not np.array_equal(starts["edge"], before[200:300, 200:300])


def test_the_soft_mask_blends_4_channel_models_and_leaves_9_channel_ones_alone(models):
    from canvas.painters.diffusion.painter import _blend

    mask = np.zeros((64, 64), bool)
    mask[:, 32:] = True
    hard, soft = _blend(mask, 0)[0, 0].numpy(), _blend(mask, 16)[0, 0].numpy()
    assert (hard[:, :4] == 0).all() and (hard[:, 4:] == 1).all()
    assert (soft[:, :4] == 0).all() and (np.diff(soft[0, 4:]) >= 0).all() and soft[0, 4] < 0.5 and soft[0, -1] == 1
    image, mask = half_masked()
    for kind, changes in (("sd", True), ("sd-inpaint", False)):
        a, b = (paint(models.painter(kind), image, mask, options={"soft_mask": px})[0][0] for px in (0, 64))
        assert (not np.array_equal(a, b)) == changes, kind


def test_a_job_encodes_its_prompt_once(models, store, monkeypatch):
    from canvas.painters.diffusion import prompts

    calls = []
    real = prompts.encode
    monkeypatch.setattr(prompts, "encode", lambda *args: calls.append(args[1:]) or real(*args))
    store.import_image(photo("astronaut", 512), 0, 0)
    painter = create_painter("diffusion", model=str(models.folder("sd")), dtype="fp32")
    spec = JobSpec(Expand(down=512, right=512), request=PaintRequest(prompt="a field", negative_prompt="fog", steps=1))
    result = run_job(store, painter, spec)
    assert result.status == "done" and result.windows_done >= 2
    assert calls == [("a field", "fog", True)]


def test_a_separate_tiny_vae_replaces_the_models_own(models, tmp_path):
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                          num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1))
    vae.save_pretrained(tmp_path / "taesd")
    painter = create_painter("diffusion", model=str(models.folder("sd-inpaint")), vae=str(tmp_path / "taesd"), dtype="fp32")
    assert type(painter.model.pipeline.vae).__name__ == "AutoencoderTiny" and painter.describe()["vae"]
    image, mask = half_masked()
    [out], _ = paint(painter, image, mask)
    assert out.shape == image.shape


def test_device_and_dtype_choices(monkeypatch):
    import torch

    from canvas.painters.diffusion import loading

    cpu = torch.device("cpu")
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: True)
    assert loading.resolve_dtype("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: False)
    assert loading.resolve_dtype("auto", cpu) == torch.float32
    assert loading.resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert loading.resolve_dtype("bf16", cpu) == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            loading.resolve_device("cuda")
    assert DiffusionSettings(model="m", scheduler="dpm++-2m_karras", masked_content="Latent-Noise").scheduler == "DPM++ 2M Karras"


def test_the_base_paths_never_import_torch():
    code = (
        "import sys\n"
        "from canvas.cli.arguments import build_parser\n"
        "from canvas.cli.main import main\n"
        "from canvas.painters import create_painter, PAINTERS\n"
        "from canvas.painters.diffusion import DiffusionSettings\n"
        "build_parser(); create_painter('patchmatch'); DiffusionSettings(model='x')\n"
        "assert 'diffusion' in PAINTERS\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


class Masks:
    """A painter as it is, keeping the mask of every window it is asked to paint."""

    def __init__(self, painter) -> None:
        self.painter, self.masks = painter, []

    def __getattr__(self, name):
        return getattr(self.painter, name)

    def paint(self, image, mask, request, progress, cancel):
        self.masks.append(mask.copy())
        return self.painter.paint(image, mask, request, progress, cancel)


def test_a_frame_on_an_empty_canvas_is_painted_from_the_prompt_alone(models, tmp_path):
    """txt2img, as every canvas tool starts: the first window, with nothing known, is
    masked whole and painted from the prompt; the next ones have it as context."""
    from canvas.jobs import Frame
    from canvas.store import Store
    from tiler.rect import Rect

    painted = {}
    for prompt, frame in (("a lighthouse", Rect(-64, 0, 768, 512)), ("a forest", Rect(-64, 0, 512, 512))):
        painter = Masks(models.painter("sd-inpaint"))
        with Store.open(tmp_path / f"{prompt}.canvas") as store:
            spec = JobSpec(Frame(frame), request=PaintRequest(prompt=prompt, seed=5, **QUICK), tiler=TilerSettings(window=512))
            result = run_job(store, painter, spec)
            assert result.status == "done" and result.windows_done == len(result.windows) >= frame.w // 512
            assert result.windows[0].context == 0 and all(w.context > 0 for w in result.windows[1:])
            assert painter.masks[0].all() and not any(m.all() for m in painter.masks[1:])  # the first masked whole
            assert store.bounds(0) == frame
            pixels = store.read(0, frame)
            assert (pixels[..., 3] == 255).all() and pixels[..., :3].std() > 2  # painted, not a flat fill
            assert store.history()[-1].params["prompt"] == prompt
            painted[prompt] = pixels[:, :512]  # the first window, same seed
    assert not np.array_equal(*painted.values())  # the prompt made the picture
