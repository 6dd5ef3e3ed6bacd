"""LoRAs on a loaded pipeline (canvas/painters/diffusion/loras.py): tiny LoRAs made with peft,
in diffusers' format and in kohya's, applied for a job and gone after it, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from canvas.library import Library
from canvas.painters import CancelToken, PaintRequest, create_painter
from canvas.painters.diffusion import ModelError
from canvas.painters.diffusion.lora_tags import LoraTagError, find_loras, parse_lora_tags
from canvas.painters.diffusion.loras import PipelineLoras
from tiny_loras import save_diffusers_lora, save_kohya_lora
from tiny_models import TinyModels


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny) -> Library:
    """An A1111 folder with LoRAs for the tiny SD 1.x model (both formats) and one for SDXL."""
    root = tmp_path_factory.mktemp("webui-loras")
    loras = root / "models" / "Lora"
    save_diffusers_lora(tiny.folder("sd-inpaint"), loras / "ink.safetensors")
    save_kohya_lora(tiny.folder("sd-inpaint"), loras / "styles" / "kohya-ink.safetensors")
    save_diffusers_lora(tiny.folder("sdxl"), loras / "xl-ink.safetensors", text=False)
    return Library([root], cache=None)


@pytest.fixture(scope="module")
def painter(tiny):
    # Its own painter (not the shared one): LoRAs are loaded into its pipeline.
    return create_painter("diffusion", model=str(tiny.folder("sd-inpaint")), dtype="fp32", offline=True)


IMAGE = np.full((128, 128, 3), 120, np.uint8)
MASK = np.zeros((128, 128), bool)
MASK[32:96, 32:96] = True


def paint(painter, prompt: str) -> np.ndarray:
    request = PaintRequest(prompt=prompt, seed=5, steps=3)
    return painter.paint(IMAGE, MASK, request, lambda report: None, CancelToken())[0]


def unet_weights(pipeline) -> dict[str, torch.Tensor]:
    """The UNet's own weights, named as before any LoRA (peft keeps them as `base_layer`)."""
    return {key.replace(".base_layer", ""): value.clone() for key, value in pipeline.unet.state_dict().items()
            if "lora_" not in key}


@pytest.mark.parametrize("name", ["ink", "kohya-ink"])  # diffusers' format; kohya's, found by its bare name
def test_a_lora_changes_the_picture_and_leaves_nothing_behind(painter, library, name):
    pipeline = painter.model.pipeline
    loras = PipelineLoras(pipeline)
    before_weights = unet_weights(pipeline)
    before = paint(painter, "a lake")
    loras.use(find_loras(library, parse_lora_tags(f"<lora:{name}:0.5>").loras, "sd1"))
    assert not np.array_equal(paint(painter, f"a lake, {name}"), before)  # a new prompt: no cached encoding
    loras.use([])  # kept loaded, acting no more
    assert np.array_equal(paint(painter, "a lake"), before)
    assert all(torch.equal(before_weights[key], value) for key, value in unet_weights(pipeline).items())
    loras.unload()  # the original layers back: the very same module tree and weights
    after = pipeline.unet.state_dict()
    assert after.keys() == before_weights.keys() and all(torch.equal(before_weights[k], after[k]) for k in after)
    assert np.array_equal(paint(painter, "a lake"), before)


def test_weight_zero_loads_nothing_and_half_differs_from_full(painter, library):
    loras = PipelineLoras(painter.model.pipeline)
    assert find_loras(library, parse_lora_tags("<lora:ink:0>").loras, "sd1") == []
    loras.use(find_loras(library, parse_lora_tags("<lora:ink:0.5>").loras, "sd1"))
    half = paint(painter, "a lake, half")
    loras.use(find_loras(library, parse_lora_tags("<lora:ink:1>").loras, "sd1"))
    full = paint(painter, "a lake, full")
    assert not np.array_equal(half, full) and loras.loaded == [str(library.find("lora", "ink").path)]
    loras.unload()


def test_a_lora_of_another_family_is_one_line_before_anything_loads(library):
    with pytest.raises(LoraTagError, match="LoRA 'xl-ink' is for SDXL; the model is SD 1.x") as caught:
        find_loras(library, parse_lora_tags("<lora:xl-ink:1>").loras, "sd1")
    assert "\n" not in str(caught.value)


def test_a_file_diffusers_cannot_map_is_a_model_error_and_the_pipeline_paints_on(tiny, library, tmp_path):
    painter = create_painter("diffusion", model=str(tiny.folder("sd-inpaint")), dtype="fp32", offline=True)
    before = paint(painter, "a lake")
    loras = PipelineLoras(painter.model.pipeline)
    with pytest.raises(ModelError, match="cannot be applied"):
        loras.use([(parse_lora_tags("<lora:xl-ink>").loras[0], library.find("lora", "xl-ink"))])
    loras.use([])
    assert np.array_equal(paint(painter, "a lake"), before)


def test_beyond_keep_the_least_recently_used_idle_adapter_is_deleted(painter, library):
    loras = PipelineLoras(painter.model.pipeline, keep=1)
    for name in ("ink", "kohya-ink"):
        loras.use(find_loras(library, parse_lora_tags(f"<lora:{name}>").loras, "sd1"))
    loras.use([])
    assert loras.loaded == [str(library.find("lora", "kohya-ink").path)]
    loras.unload()


def test_the_painter_takes_lora_tags_out_of_the_prompt_for_one_job(tiny, library):
    from canvas.painters.diffusion.painter import DiffusionPainter
    from canvas.painters.diffusion.settings import DiffusionSettings

    painter = DiffusionPainter(DiffusionSettings(model=str(tiny.folder("sd-inpaint")), dtype="fp32", offline=True),
                               library=library)
    before = paint(painter, "a lake")
    # The same text once the tag is out (the text encoders' LoRA is part of the prompt cache's key).
    inked = paint(painter, "<lora:ink:0.5>a lake")
    assert not np.array_equal(inked, before)
    assert np.array_equal(paint(painter, "<lora:ink:0>a lake"), before)  # weight 0 paints as without
    assert np.array_equal(paint(painter, "a lake"), before)  # the job after it, as the job before it
    assert np.array_equal(paint(painter, "<lora:ink:0.5>a lake"), inked)  # kept loaded: the same again
    with pytest.raises(LoraTagError, match="is for SDXL"):
        paint(painter, "a lake <lora:xl-ink>")
    assert np.array_equal(paint(painter, "a lake"), before)


def test_a_flux_lora_on_a_flux_fill_pipeline_acts_for_one_job(tmp_path_factory):
    """The families diffusers' pipelines paint take LoRAs the same way (here a FLUX.1 LoRA,
    the kind FLUX.1 Fill takes)."""
    from canvas.painters.diffusion.painter import DiffusionPainter
    from canvas.painters.diffusion.settings import DiffusionSettings
    from tiny_families import TinyFamilies
    from tiny_loras import save_flux_lora

    families = TinyFamilies.shared(tmp_path_factory)
    root = tmp_path_factory.mktemp("comfy-flux")
    save_flux_lora(families.folder("flux-fill"), root / "models" / "loras" / "flux-ink.safetensors")
    library = Library([root], cache=None)
    assert library.find("lora", "flux-ink").family == "flux"
    painter = DiffusionPainter(DiffusionSettings(model=str(families.folder("flux-fill")), dtype="fp32", offline=True),
                               library=library)
    before = paint(painter, "a lake")
    assert not np.array_equal(paint(painter, "<lora:flux-ink:0.8>a lake"), before)
    assert np.array_equal(paint(painter, "a lake"), before)
