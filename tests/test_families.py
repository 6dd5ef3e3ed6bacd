"""The diffusion painter on the families diffusers' own inpaint pipelines paint (tiny
random-weight pipelines of tests/tiny_families.py, loaded through the users' loader): it
paints what the pipeline paints, whole jobs keep known pixels, candidates, seeds, previews,
cancel, the soft seam, GGUF transformers, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from canvas.jobs import Expand, JobSpec, TilerSettings, WindowProgress, run_job  # noqa: E402
from canvas.painters import CancelToken, Cancelled, PaintRequest, create_painter  # noqa: E402
from canvas.painters.diffusion import ModelError  # noqa: E402
from canvas.painters.diffusion.families import FAMILIES  # noqa: E402
from pictures import half_masked, photo, rgba  # noqa: E402
from tiny_families import FAMILY_KINDS, TinyFamilies, round_to_bf16  # noqa: E402

SIZE = 128
QUICK = {"steps": 2, "guidance": 3.5}
GGUF_KINDS = [key for key in ("flux-fill", "z-image", "flux") if key in FAMILY_KINDS][:2]
BLENDING = [key for key in FAMILY_KINDS if FAMILIES[key].blend == "latent blend"]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyFamilies:
    return TinyFamilies.shared(tmp_path_factory)


def painter_of(tiny: TinyFamilies, key: str, **settings):
    """The painter of family `key`'s tiny folder, built once per session and settings."""
    return tiny.painter(key, **settings)



def paint(painter, image, mask, **request):
    seen = []
    out = painter.paint(image, mask, PaintRequest(**{**QUICK, **request}), seen.append, CancelToken())
    return out, seen


def diffusers_paints(folder, key: str, image, mask, seed: int, steps: int, guidance: float, strength: float = 1.0,
                     transformer=None, pipeline=None) -> np.ndarray:
    """The family's own pipeline (loaded from `folder`, or `pipeline`), called as its
    documentation shows, to uint8 RGB."""
    import diffusers

    family = FAMILIES[key]
    extra = {"transformer": transformer} if transformer is not None else {}
    if pipeline is None:
        pipeline = getattr(diffusers, family.inpaint_pipeline).from_pretrained(folder, **extra)
    h, w = mask.shape
    options = dict(prompt="a red boat", image=Image.fromarray(image), mask_image=Image.fromarray(mask.astype(np.uint8) * 255),
                   height=h, width=w, strength=strength, num_inference_steps=steps,
                   generator=torch.Generator("cpu").manual_seed(seed))
    options[family.guidance_kwarg] = guidance
    if family.negative_prompt:
        options["negative_prompt"] = ""
    return np.asarray(pipeline(**options).images[0])  # PIL: rounded as diffusers rounds


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_the_painter_paints_what_the_familys_pipeline_paints(tiny, key):
    painter = painter_of(tiny, key, soft_mask=0)
    image, mask = half_masked(SIZE)
    for seed, strength in ((3, 1.0), (5, 0.6)):
        [ours], _ = paint(painter, image, mask, prompt="a red boat", seed=seed, steps=3, strength=strength)
        theirs = diffusers_paints(tiny.folder(key), key, image, mask, seed, 3, QUICK["guidance"], strength)
        assert ours.shape == theirs.shape == image.shape and ours.dtype == np.uint8
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1, (key, seed, strength)


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_the_painter_says_its_family_and_offers_only_its_options(tiny, key):
    family = FAMILIES[key]
    painter = painter_of(tiny, key)
    assert painter.family is family and painter.label == f"{family.label} · {key}"
    assert painter.defaults == {"steps": family.steps, "guidance": family.guidance, "strength": 1.0}
    assert ("negative_prompt" in painter.uses) == family.negative_prompt
    assert {"prompt", "steps", "guidance", "strength"} <= set(painter.uses)
    assert "scheduler" not in painter.OPTIONS and painter.OPTIONS["masked_content"].choices == ("fill", "original")
    assert ("soft_mask" in painter.OPTIONS) == (family.blend == "latent blend")
    described = painter.describe()
    assert described["family"] == key and described["model"] == str(tiny.folder(key))
    assert painter.native_window == family.native and painter.repaints_band


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_an_expand_job_keeps_known_pixels_outside_the_band(tiny, key):
    from canvas.store import Store

    before = photo("astronaut", 512)
    with Store.open(":memory:") as store:
        store.import_image(before, 0, 0)
        spec = JobSpec(Expand(down=128), request=PaintRequest(seed=1, **QUICK), tiler=TilerSettings(window=512, pad=64))
        result = run_job(store, painter_of(tiny, key), spec)
        assert result.status == "done" and result.windows_done == len(result.windows) >= 1
        after = store.read(0, store.bounds(0))
        params = store.history()[-1].params
    assert after.shape[:2] == (512 + 128, 512) and (after[..., 3] == 255).all()
    assert np.array_equal(after[: 512 - 64, :, :3], before[: 512 - 64])  # outside the band, bit for bit
    assert after[512:, :, :3].std() > 2
    assert params["painter"] == "diffusion" and params["family"] == key and params["model"] == str(tiny.folder(key))


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_candidates_differ_a_seed_repeats_and_previews_arrive(tiny, key):
    painter = painter_of(tiny, key)
    image, mask = half_masked(SIZE)
    (first, second), seen = paint(painter, image, mask, seed=9, steps=3, candidates=2)
    assert not np.array_equal(first[mask], second[mask])
    [again], _ = paint(painter, image, mask, seed=9, steps=3)
    assert np.array_equal(first, again)  # candidate 0 does not depend on how many are asked for
    assert [p.step for p in seen] == list(range(1, 7)) and {p.steps for p in seen} == {6}
    previews = [p.preview for p in seen if p.preview is not None]
    assert len(previews) == 6 and all(p.dtype == np.uint8 and p.shape == (SIZE // 8, SIZE // 8, 3) for p in previews)
    assert previews[-1].std() > 0


def test_previews_unpack_the_pipelines_packed_latents():
    from diffusers import Flux2KleinInpaintPipeline, FluxInpaintPipeline

    from canvas.painters.diffusion.preview import latent_pixels

    latents = torch.randn(1, 16, 8, 12)  # a 64 x 96 px window
    flux = FluxInpaintPipeline._pack_latents(latents, 1, 16, 8, 12)
    klein = Flux2KleinInpaintPipeline._pack_latents(Flux2KleinInpaintPipeline._patchify_latents(latents))
    for packed in (flux, klein, latents):
        assert torch.equal(latent_pixels(packed, 64, 96), latents[0].permute(1, 2, 0))


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_cancel_stops_within_one_step_and_a_cancelled_job_commits_nothing(tiny, key):
    from canvas.store import Store

    painter = painter_of(tiny, key)
    cancel = CancelToken()
    seen = []

    def progress(p):
        seen.append(p)
        cancel.cancel()

    image, mask = half_masked(SIZE)
    with pytest.raises(Cancelled):
        painter.paint(image, mask, PaintRequest(steps=6, guidance=1.0), progress, cancel)
    assert len(seen) == 1
    before = photo("astronaut", 512)
    with Store.open(":memory:") as store:
        store.import_image(before, 0, 0)
        cancel = CancelToken()

        def on_event(event):
            if isinstance(event, WindowProgress) and event.step == 2:
                cancel.cancel()

        result = run_job(store, painter, JobSpec(Expand(down=128), request=PaintRequest(steps=4, guidance=1.0)),
                         on_event=on_event, cancel=cancel)
        assert result.status == "cancelled" and result.windows_done == 0
        assert np.array_equal(store.read(0, store.bounds(0)), rgba(before))


def test_the_soft_seam_pulls_only_the_band_toward_the_known_latents():
    from canvas.painters.diffusion.pipeline_window import _ramp, soften

    mask = np.zeros((64, 64), bool)
    mask[:, 32:] = True
    ramp = _ramp(mask, 16)
    known = torch.zeros(1, 16, 8, 8)
    painted = torch.where(torch.from_numpy(mask[::8, ::8])[None, None], 1.0, 0.0).expand(1, 16, 8, 8)  # new: 1
    soft = soften(painted, known, ramp)
    columns = soft[0, 0, 0]
    assert (columns[:4] == 0).all()  # the known part: untouched (the pipeline keeps it)
    assert 0 < columns[4] < columns[5] < 1  # the band: pulled toward the known latents, less inwards
    assert (columns[6:] == 1).all()  # beyond soft_mask px: what the pipeline painted
    # packed FLUX-style latents: a sequence of 2x2 patches, row by row
    packed = painted.reshape(1, 16, 4, 2, 4, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, 16, 64)
    soft_packed = soften(packed, torch.zeros_like(packed), ramp).reshape(1, 4, 4, 64)
    assert (soft_packed[0, :, :2] == 0).all() and (soft_packed[0, :, 3] == 1).all()
    assert (0 < soft_packed[0, :, 2]).all() and (soft_packed[0, :, 2] < 1).all()


@pytest.mark.parametrize("key", BLENDING)
def test_the_soft_seam_changes_the_band_and_soft_mask_0_is_the_pipelines_own(tiny, key):
    image, mask = half_masked(SIZE)
    hard, soft = (paint(painter_of(tiny, key, soft_mask=px), image, mask, seed=2)[0][0].astype(int) for px in (0, 32))
    band = mask & (np.arange(SIZE) < SIZE // 2 + 32)[None, :]
    assert not np.array_equal(hard[band], soft[band])
    # The known part is the pipeline's in both (only the VAE's reach carries the change
    # there); the band is where the latents were pulled toward the known ones.
    known = ~mask & (np.arange(SIZE) < SIZE // 2 - 32)[None, :]
    assert np.abs(soft[band] - hard[band]).mean() > 2 * np.abs(soft[known] - hard[known]).mean()


def test_fill_blends_nothing_a_soft_mask_is_not_its_option(tiny):
    if "flux-fill" not in FAMILY_KINDS:
        pytest.skip("no tiny FLUX.1 Fill")
    image, mask = half_masked(SIZE)
    a, b = (paint(painter_of(tiny, "flux-fill"), image, mask, seed=2, options={"soft_mask": px})[0][0] for px in (0, 64))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("key", GGUF_KINDS)
def test_a_gguf_transformer_loads_with_its_config_folder_and_paints(tiny, key):
    from diffusers import GGUFQuantizationConfig

    image, mask = half_masked(SIZE)
    folder = tiny.folder(key)
    painted = {}
    for quant in ("BF16", "Q8_0"):
        painter = create_painter("diffusion", model=str(tiny.gguf(key, quant)), model_config=str(folder), offline=True,
                                 dtype="fp32", soft_mask=0)
        assert painter.family.key == key and painter.label == f"{FAMILIES[key].label} · {key}-{quant}"
        assert getattr(painter.model.pipeline.transformer, "is_quantized", False)
        [painted[quant]], _ = paint(painter, image, mask, prompt="a red boat", seed=1)
        transformer = type(painter.model.pipeline.transformer).from_single_file(
            str(tiny.gguf(key, quant)), config=str(folder), subfolder="transformer",
            quantization_config=GGUFQuantizationConfig(compute_dtype=torch.float32))
        theirs = diffusers_paints(folder, key, image, mask, 1, 2, QUICK["guidance"], transformer=transformer)
        assert np.abs(painted[quant].astype(int) - theirs.astype(int)).max() <= 1, quant
    # BF16: the same pixels as the unquantized model with the same (bf16-rounded) weights
    rounded = create_painter("diffusion", model=str(folder), dtype="fp32", soft_mask=0)
    round_to_bf16(rounded.model.pipeline.transformer)
    [unquantized], _ = paint(rounded, image, mask, prompt="a red boat", seed=1)
    assert np.abs(painted["BF16"].astype(int) - unquantized.astype(int)).max() <= 1
    [unrounded], _ = paint(painter_of(tiny, key, soft_mask=0), image, mask, prompt="a red boat", seed=1)
    assert 0 < np.abs(painted["Q8_0"].astype(int) - unrounded.astype(int)).max()  # 8-bit weights: near, not equal


@pytest.mark.parametrize("key", [key for key in FAMILY_KINDS if key not in GGUF_KINDS])
def test_every_familys_q8_0_gguf_transformer_loads_and_paints(tiny, key):
    painter = create_painter("diffusion", model=str(tiny.gguf(key, "Q8_0")), model_config=str(tiny.folder(key)),
                             offline=True, dtype="fp32")
    assert painter.family.key == key and getattr(painter.model.pipeline.transformer, "is_quantized", False)
    image, mask = half_masked(64)
    [out], _ = paint(painter, image, mask, seed=1)
    assert out.shape == image.shape and out.std() > 0


def test_wrong_models_and_settings_are_one_line_at_construction(tiny, tmp_path):
    from safetensors.torch import save_file

    key = FAMILY_KINDS[0]
    folder = tiny.folder(key)
    other = next((k for k in FAMILY_KINDS if k != key), None)
    stranger = tmp_path / "stranger.safetensors"
    save_file({"some.weight": torch.zeros(2, 2)}, str(stranger))
    transformer = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "model_index.json").write_text(json.dumps({"_class_name": "AudioLDMPipeline"}))
    cases = [
        ({"model": str(stranger)}, "not a model of a family the painter knows"),
        ({"model": str(unknown)}, "not a model of a family the painter knows"),
        ({"model": str(tiny.gguf(key, "Q8_0"))}, "give --model-config"),
        ({"model": str(transformer)}, "give --model-config"),
        ({"model": str(folder), "controlnet": str(folder)}, f"--controlnet steers SD 1.x/2.x/XL; {FAMILIES[key].label} inpaints on its own"),
        ({"model": str(folder), "offload": "model"}, "no CUDA GPU"),
        ({"model": str(folder), "offload": "sequential"}, "no CUDA GPU"),
        ({"model": str(folder), "masked_content": "latent noise"}, "starts from the window's pixels"),
        ({"model": str(folder), "vae": str(folder)}, "keeps its own"),
    ]
    if other is not None:
        cases.append(({"model": str(tiny.gguf(key, "Q8_0")), "model_config": str(tiny.folder(other))},
                      f"is a {FAMILIES[key].label} model but --model-config"))
    if torch.cuda.is_available():
        cases = [case for case in cases if "offload" not in case[0]]
    for options, message in cases:
        with pytest.raises(ModelError) as error:
            create_painter("diffusion", dtype="fp32", **options)
        text = str(error.value)
        assert message in text and "\n" not in text, (options, text)


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_a_single_transformer_file_loads_with_its_config_folder(tiny, key):
    folder = tiny.folder(key)
    painter = create_painter("diffusion", model=str(folder / "transformer" / "diffusion_pytorch_model.safetensors"),
                             model_config=str(folder), offline=True, dtype="fp32", soft_mask=0)
    assert painter.family.key == key and painter.describe()["model_config"] == str(folder)
    image, mask = half_masked(SIZE)
    [ours], _ = paint(painter, image, mask, seed=4)
    [theirs], _ = paint(painter_of(tiny, key, soft_mask=0), image, mask, seed=4)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


def test_a_pipeline_built_in_code_paints_as_diffusers_does_and_as_the_same_model_saved(tiny):
    from canvas.painters.diffusion import DiffusionSettings
    from canvas.painters.diffusion.painter import DiffusionPainter
    from tiny_families import build_pipeline

    key = FAMILY_KINDS[0]
    built = build_pipeline(key)  # in training mode, as any model built in code: T5's dropout on
    assert any(getattr(module, "training", False) for module in built.components.values())
    painter = DiffusionPainter(DiffusionSettings(model=key, dtype="fp32", soft_mask=0), pipeline=built)
    assert painter.family.key == key and painter.label == f"{FAMILIES[key].label} · {key}"
    assert not any(getattr(module, "training", False) for module in built.components.values())  # for inference
    image, mask = half_masked(SIZE)
    [ours], _ = paint(painter, image, mask, prompt="a red boat", seed=6)
    theirs = diffusers_paints(None, key, image, mask, 6, QUICK["steps"], QUICK["guidance"], pipeline=painter.model.pipeline)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    # the same weights saved and loaded through the users' loader (from_pretrained: eval mode)
    [saved], _ = paint(painter_of(tiny, key, soft_mask=0), image, mask, prompt="a red boat", seed=6)
    assert np.abs(ours.astype(int) - saved.astype(int)).max() <= 1


def test_a_hub_id_loads_from_the_local_cache_offline(tiny, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    key = FAMILY_KINDS[0]
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny-model" / "snapshots" / "0123abcd"
    shutil.copytree(tiny.folder(key), snapshot)
    (cache / "models--someone--tiny-model" / "refs").mkdir()
    (cache / "models--someone--tiny-model" / "refs" / "main").write_text("0123abcd")
    code = ("from canvas.painters import create_painter\n"
            "p = create_painter('diffusion', model='someone/tiny-model', offline=True, dtype='fp32')\n"
            "print(p.family.key, p.label)\n")
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"{key} {FAMILIES[key].label} · tiny-model"


def test_a_damaged_gguf_file_is_one_line(tiny, tmp_path):
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(b"GGUF" + b"\0" * 20)
    with pytest.raises(ModelError) as error:
        create_painter("diffusion", model=str(damaged), model_config=str(tiny.folder(FAMILY_KINDS[0])), dtype="fp32")
    assert "not a readable GGUF file" in str(error.value) and "\n" not in str(error.value)


def test_pools_carry_the_family_label_uses_and_defaults(tiny):
    import pickle

    from canvas.jobs.pool import PainterProfile

    painter = painter_of(tiny, FAMILY_KINDS[0])
    profile = pickle.loads(pickle.dumps(PainterProfile.of(painter)))  # as a process or Ray actor sends it
    assert profile.family == painter.family and profile.label == painter.label
    assert profile.uses == painter.uses and profile.defaults == painter.defaults
    assert profile.describe()["family"] == FAMILY_KINDS[0] and set(profile.OPTIONS) == set(painter.OPTIONS)


FLUX2_NAMES = {  # FLUX.2's transformer in BFL's layout (and ComfyUI's, prefixed) and in diffusers'
    "bfl": (["img_in.weight", "txt_in.weight", "time_in.in_layer.weight", "double_stream_modulation_img.lin.weight",
             "single_stream_modulation.lin.weight", "double_blocks.0.img_attn.norm.key_norm.scale",
             "single_blocks.0.linear1.weight", "final_layer.linear.weight"], "guidance_in.in_layer.weight"),
    "diffusers": (["x_embedder.weight", "context_embedder.weight", "time_guidance_embed.timestep_embedder.linear_1.weight",
                   "double_stream_modulation_img.linear.weight", "single_stream_modulation.linear.weight",
                   "single_transformer_blocks.0.attn.to_qkv_mlp_proj.weight"],
                  "time_guidance_embed.guidance_embedder.linear_1.weight"),
}


def test_a_flux2_dev_file_is_not_taken_for_klein_and_is_refused_in_one_line(tiny, tmp_path):
    # FLUX.2 dev has a guidance embedding (guidance-distilled); Klein has none. diffusers
    # 0.42 has no inpaint pipeline for dev (Flux2Pipeline only generates): refused by name.
    from safetensors.torch import save_file

    from canvas.library.content import classify
    from canvas.painters.diffusion.families import FLUX2_DEV, UnknownModel, recognise_file
    from canvas.painters.diffusion.headers import safetensors_shapes

    layouts = {**FLUX2_NAMES, "comfyui": tuple(
        [f"model.diffusion_model.{n}" for n in names] if isinstance(names, list) else f"model.diffusion_model.{names}"
        for names in FLUX2_NAMES["bfl"])}
    with_config = [{"model_config": str(tiny.folder("flux2-klein"))}] if "flux2-klein" in FAMILY_KINDS else []
    for layout, (names, guidance) in layouts.items():
        klein, dev = tmp_path / f"klein-{layout}.safetensors", tmp_path / f"dev-{layout}.safetensors"
        save_file({name: torch.zeros(2, 2) for name in names}, str(klein))
        save_file({name: torch.zeros(2, 2) for name in [*names, guidance]}, str(dev))
        assert recognise_file(klein).key == "flux2-klein", layout
        with pytest.raises(UnknownModel) as error:
            recognise_file(dev)
        assert str(error.value) == f"{dev}: {FLUX2_DEV}"
        assert classify(safetensors_shapes(dev), "safetensors").family is None  # the library: no family
        for options in ({}, *with_config):  # alone, or with a Klein folder: not taken for Klein either way
            with pytest.raises(ModelError) as error:
                create_painter("diffusion", model=str(dev), dtype="fp32", **options)
            assert str(error.value) == f"{dev}: {FLUX2_DEV}", (layout, options)
    folder = tmp_path / "flux2-dev"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "Flux2Pipeline", "transformer": ["diffusers", "Flux2Transformer2DModel"]}))
    with pytest.raises(ModelError) as error:
        create_painter("diffusion", model=str(folder), dtype="fp32")
    assert str(error.value) == f"{folder}: {FLUX2_DEV}" and "\n" not in FLUX2_DEV


def test_model_offload_paints_what_the_pipeline_paints_in_place(tiny):
    """`--offload model`: diffusers' CPU offload through accelerate's hooks, run here with the
    CPU as the accelerator: each component is moved to it by its hook when the pipeline
    calls it; previews, the soft seam's step callback and the job's settings work through the
    hooks, and the pixels are those of the same pipeline painting in place.

    `--offload sequential` cannot run here: diffusers names the accelerator `cpu:0`, and
    accelerate's hook, moving a weight to `cpu:0` (a different device than `cpu` to torch),
    gets a plain tensor back from `Parameter.to` and fails on its next move (on a GPU,
    `cuda:0` is the weights' own device and nothing is copied). Its one-line error without a
    GPU is tested."""
    import diffusers
    from canvas.painters.diffusion import DiffusionSettings
    from canvas.painters.diffusion.painter import DiffusionPainter

    key = BLENDING[0]  # a family whose painter blends in the step callback
    pipeline = getattr(diffusers, FAMILIES[key].inpaint_pipeline).from_pretrained(tiny.folder(key))
    for offload in ("model", "sequential"):
        settings = DiffusionSettings(model=key, dtype="fp32", soft_mask=8, offload=offload)
        with pytest.raises(ModelError, match="no CUDA GPU"):
            DiffusionPainter(settings, pipeline=pipeline)  # a user's --offload without a GPU
    settings = DiffusionSettings(model=key, dtype="fp32", soft_mask=8, offload="model")
    painter = DiffusionPainter(settings, pipeline=pipeline, offload_to=torch.device("cpu"))
    assert hasattr(painter.model.pipeline.transformer, "_hf_hook")  # accelerate's hook is on
    image, mask = half_masked(SIZE)
    [ours], previews = paint(painter, image, mask, prompt="a red boat", seed=7, steps=3)
    [in_place], _ = paint(painter_of(tiny, key, soft_mask=8), image, mask, prompt="a red boat", seed=7, steps=3)
    assert previews and np.abs(ours.astype(int) - in_place.astype(int)).max() <= 1
    assert painter.describe()["offload"] == "model"


def test_the_negative_prompt_goes_only_where_the_pipeline_guides(tiny):
    """Z-Image Turbo paints unguided at 0 (its pipeline guides as cond + s·(cond − uncond),
    at twice the cost, for any s > 0); unguided, no family's pipeline is given a negative
    prompt (Qwen-Image's warns at every window when it is)."""
    from canvas.painters.diffusion.pipeline_window import pipeline_call

    assert FAMILIES["z-image"].defaults["guidance"] == 0.0 == FAMILIES["z-image"].guided_above
    image, mask = half_masked(64)
    for key in ("z-image", "qwen-image", "sd3"):
        model, above = painter_of(tiny, key).model, FAMILIES[key].guided_above
        unguided = pipeline_call(model, image, mask, PaintRequest(negative_prompt="blur", guidance=above), 1)
        guided = pipeline_call(model, image, mask, PaintRequest(negative_prompt="blur", guidance=above + 1), 1)
        assert "negative_prompt" not in unguided and guided["negative_prompt"] == "blur", key
