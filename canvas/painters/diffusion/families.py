"""The model families the diffusion painter knows: one entry each, in one table.

An entry says how to recognise the family (a diffusers folder's pipeline class, a single
file's tensor names), which diffusers pipeline paints it (none: our own loop, `denoise.py`,
for SD and SDXL), its native window, its defaults and what a job may set. Adding a family
is one new entry here (and its pipeline's quirks, if any, in `pipelines.py`).

This module is plain data and header reading: no torch, so the command line and the
models library recognise a file before anything heavy loads.

    family = recognise_file(Path("flux1-fill-dev.safetensors"))   # FAMILIES["flux-fill"]
    family.label, family.native, family.steps, family.guidance     # ("FLUX.1 Fill", 1024, 50, 30.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from canvas.painters.diffusion.headers import HeaderError, Shapes, safetensors_shapes

# Prefixes under which original-layout files keep the denoiser (A1111 and ComfyUI
# checkpoints: "model.diffusion_model."; ComfyUI's diffusion_models files: none).
DENOISER_PREFIXES = ("model.diffusion_model.", "")


@dataclass(frozen=True)
class Family:
    """One family of models, as the painter, the panel and the library see it."""

    key: str  # stable id, in the protocol, the history and the library: "flux-fill"
    label: str  # what people call it: "FLUX.1 Fill"
    pipelines: tuple[str, ...]  # model_index.json `_class_name`s of folders of this family
    inpaint_pipeline: str | None  # the diffusers class that paints it; None: our own loop (denoise.py)
    denoiser: str  # the class of its UNet or transformer (a GGUF file loads into it)
    native: int  # window px a side it was trained at
    steps: int  # default sampling steps
    guidance: float  # default guidance scale (distilled guidance for FLUX)
    negative_prompt: bool  # it has classifier-free guidance, so a negative prompt means something
    latent_channels: int  # the VAE's, before any packing (previews, checks on tiny models)
    gguf: bool = False  # diffusers can load its transformer from a GGUF file
    # How the band along a seam blends (the README says it per family):
    # - "soft mask": our loop (denoise.py) blends latents toward the known ones by a ramp;
    # - "latent blend": the pipeline's hard-mask blend of the known latents, softened by the
    #   painter at every step with the same ramp (pipeline_window.py);
    # - "model": an inpainting model that sees the mask and the known pixels at every step
    #   (FLUX.1 Fill, like SD's 9-channel UNets): nothing is blended in latent space.
    blend: str = "latent blend"
    # The pipeline keyword that carries the job's guidance: "guidance_scale" (classifier-free
    # guidance, or FLUX's distilled guidance), or "true_cfg_scale" (Qwen-Image's CFG).
    guidance_kwarg: str = "guidance_scale"
    # Classifier-free guidance (two forwards a step, the negative prompt read) acts above
    # this guidance: 1 for most (uncond + s·(cond − uncond)), 0 for Z-Image, whose pipeline
    # guides as cond + s·(cond − uncond). FLUX's distilled guidance is one forward at any value.
    guided_above: float = 1.0
    note: str = ""  # one line for the README and the panel: what to download, what it needs

    @property
    def own_loop(self) -> bool:
        return self.inpaint_pipeline is None

    @property
    def uses(self) -> tuple[str, ...]:
        """The job settings a model of this family reads (the panel offers these)."""
        return ("prompt", *(("negative_prompt",) if self.negative_prompt else ()), "steps", "guidance", "strength")

    @property
    def defaults(self) -> dict[str, Any]:
        """Steps, guidance and strength of a job that gives none."""
        return {"steps": self.steps, "guidance": self.guidance, "strength": 1.0}


FAMILIES: dict[str, Family] = {
    family.key: family
    for family in (
        Family("sd1", "SD 1.x", ("StableDiffusionPipeline", "StableDiffusionInpaintPipeline"), None,
               "UNet2DConditionModel", native=512, steps=25, guidance=7.0, negative_prompt=True,
               latent_channels=4, blend="soft mask"),
        Family("sd2", "SD 2.x", (), None,  # folders: SD 1.x's classes, told apart by the UNet's width
               "UNet2DConditionModel", native=768, steps=25, guidance=7.0, negative_prompt=True,
               latent_channels=4, blend="soft mask"),
        Family("sdxl", "SDXL", ("StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline"), None,
               "UNet2DConditionModel", native=1024, steps=25, guidance=7.0, negative_prompt=True,
               latent_channels=4, blend="soft mask"),
        Family("sd3", "SD 3.x", ("StableDiffusion3Pipeline", "StableDiffusion3InpaintPipeline"),
               "StableDiffusion3InpaintPipeline", "SD3Transformer2DModel", native=1024, steps=28, guidance=7.0,
               negative_prompt=True, latent_channels=16, gguf=True),
        Family("flux", "FLUX.1", ("FluxPipeline", "FluxInpaintPipeline", "FluxImg2ImgPipeline"),
               "FluxInpaintPipeline", "FluxTransformer2DModel", native=1024, steps=28, guidance=3.5,
               negative_prompt=False, latent_channels=16, gguf=True),
        Family("flux-fill", "FLUX.1 Fill", ("FluxFillPipeline",), "FluxFillPipeline", "FluxTransformer2DModel",
               native=1024, steps=50, guidance=30.0, negative_prompt=False, latent_channels=16, gguf=True,
               blend="model"),
        Family("chroma", "Chroma", ("ChromaPipeline", "ChromaInpaintPipeline", "ChromaImg2ImgPipeline"),
               "ChromaInpaintPipeline", "ChromaTransformer2DModel", native=1024, steps=26, guidance=4.0,
               negative_prompt=True, latent_channels=16, gguf=True),
        Family("flux2-klein", "FLUX.2 Klein", ("Flux2KleinPipeline", "Flux2KleinInpaintPipeline"),
               "Flux2KleinInpaintPipeline", "Flux2Transformer2DModel", native=1024, steps=4, guidance=1.0,
               negative_prompt=False, latent_channels=32, gguf=True),
        Family("z-image", "Z-Image", ("ZImagePipeline", "ZImageInpaintPipeline", "ZImageImg2ImgPipeline"),
               "ZImageInpaintPipeline", "ZImageTransformer2DModel", native=1024, steps=8, guidance=0.0,
               negative_prompt=True, latent_channels=16, gguf=True, guided_above=0.0),  # Turbo: no CFG, as its card says
        Family("qwen-image", "Qwen-Image", ("QwenImagePipeline", "QwenImageInpaintPipeline", "QwenImageImg2ImgPipeline"),
               "QwenImageInpaintPipeline", "QwenImageTransformer2DModel", native=1024, steps=30, guidance=4.0,
               negative_prompt=True, latent_channels=16, gguf=True, guidance_kwarg="true_cfg_scale"),
    )
}


class UnknownModel(ValueError):
    """No family recognises this folder or file; the message says what was seen."""


def family(key: str) -> Family:
    try:
        return FAMILIES[key]
    except KeyError:
        raise UnknownModel(f"unknown model family {key!r}; known: {', '.join(FAMILIES)}") from None


# --- diffusers folders ------------------------------------------------------------------


def recognise_index(index: Mapping[str, Any], unet_config: Mapping[str, Any] | None = None) -> Family | None:
    """The family of a diffusers folder from its model_index.json (and, to tell SD 1.x
    from 2.x, its unet/config.json), or None."""
    name = str(index.get("_class_name", ""))
    for entry in FAMILIES.values():
        if name in entry.pipelines:
            if entry.key == "sd1" and unet_config and _width(unet_config.get("cross_attention_dim")) == 1024:
                return FAMILIES["sd2"]
            return entry
    return None


def recognise_folder(folder: Path) -> Family | None:
    """The family of a diffusers folder, or None (not a pipeline folder, or unknown)."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict):
        return None
    unet_config = None
    try:
        unet_config = json.loads((folder / "unet" / "config.json").read_text())
    except (OSError, ValueError):
        pass
    return recognise_index(index, unet_config if isinstance(unet_config, dict) else None)


def _width(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return int(value) if isinstance(value, (int, float)) else None


# --- single files, by their tensor names ------------------------------------------------


def _has(shapes: Shapes, *names: str) -> str | None:
    """The first of `names`, under any denoiser prefix, that the file has (prefixed as found)."""
    for name in names:
        for prefix in DENOISER_PREFIXES:
            if prefix + name in shapes:
                return prefix + name
    return None


def _sd(shapes: Shapes) -> str | None:
    """SD 1.x, 2.x or XL in the original (LDM) layout: A1111's and ComfyUI's checkpoints."""
    if "conditioner.embedders.1.model.positional_embedding" in shapes or any(
            key.startswith("conditioner.embedders.1.") for key in shapes):
        return "sdxl"
    attention = shapes.get("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight")
    if attention is not None:
        if attention[-1] == 2048:
            return "sdxl"  # a UNet-only SDXL file
        return "sd2" if attention[-1] == 1024 else "sd1"
    return None


def _transformer(shapes: Shapes) -> str | None:
    """The transformer families, original layout (BFL, Stability, ComfyUI) or diffusers'."""
    if _has(shapes, "joint_blocks.0.context_block.adaLN_modulation.1.bias"):
        return "sd3"
    if _has(shapes, "single_stream_modulation.lin.weight"):
        return None if _flux2_guided(shapes) else "flux2-klein"  # guided: FLUX.2 dev (not_painted says so)
    if _has(shapes, "distilled_guidance_layer.in_proj.bias"):
        return "chroma"
    img_in = _has(shapes, "img_in.weight")
    if _has(shapes, "double_blocks.0.img_attn.norm.key_norm.scale") and img_in:
        return "flux-fill" if shapes[img_in][-1] == 384 else "flux"
    if _has(shapes, "layers.0.adaLN_modulation.0.weight") and _has(shapes, "cap_embedder.0.weight", "cap_embedder.1.weight"):
        return "z-image"
    if _has(shapes, "transformer_blocks.0.img_mod.1.weight") and _has(shapes, "txt_norm.weight"):
        return "qwen-image"
    # diffusers' own layout, as `transformer/diffusion_pytorch_model.safetensors` is saved
    # (Chroma's, Z-Image's and Qwen-Image's keep the names tested above)
    if "context_embedder.weight" in shapes and "pos_embed.proj.weight" in shapes:
        return "sd3"
    if "x_embedder.weight" in shapes and "double_stream_modulation_img.linear.weight" in shapes:
        # its blocks share modulations; single blocks project q, k, v and MLP at once
        return None if _flux2_guided(shapes) else "flux2-klein"
    if "x_embedder.weight" in shapes and "single_transformer_blocks.0.attn.to_q.weight" in shapes:
        if "distilled_guidance_layer.in_proj.bias" in shapes:
            return "chroma"
        return "flux-fill" if shapes["x_embedder.weight"][-1] == 384 else "flux"
    return None


def _flux2_guided(shapes: Shapes) -> bool:
    """A FLUX.2 transformer with a guidance embedding: FLUX.2 dev (guidance-distilled, 8
    double and 48 single blocks 6144 wide, Mistral's 15360-wide text). Klein, step-distilled
    or base, has none (its pipelines pass no guidance; 5 + 20 blocks 3072 wide for 4B)."""
    return bool(_has(shapes, "guidance_in.in_layer.weight")) or \
        "time_guidance_embed.guidance_embedder.linear_1.weight" in shapes


RECOGNISERS: tuple[Callable[[Shapes], str | None], ...] = (_sd, _transformer)

# Models no diffusers inpaint pipeline paints, though they look like a family's: told apart
# so that the error names the model and what would paint the canvas instead.
FLUX2_DEV = ("FLUX.2 dev: diffusers 0.42 has no inpaint pipeline for it (Flux2Pipeline only generates); "
             "FLUX.2 Klein (Flux2KleinInpaintPipeline) or FLUX.1 Fill paints the canvas")
NOT_PAINTED_PIPELINES = {"Flux2Pipeline": FLUX2_DEV}
# ComfyUI's fp8 files that keep a scale beside each weight ("fp8_scaled": a `scaled_fp8`
# marker and `.scale_weight`s; its newer quantized format: `.weight_scale` and `.comfy_quant`).
# diffusers 0.42 loads the fp8 weights and drops the scales (or fails on them): refused.
SCALED_FP8 = ("ComfyUI's scaled fp8 file (a scale stored beside each weight): diffusers 0.42 cannot apply the "
              "scales; use the model's bf16 file, an unscaled fp8 one, or a GGUF")
SCALE_NAMES = ("scaled_fp8", ".scale_weight", ".weight_scale", ".comfy_quant")


def not_painted(shapes: Shapes) -> str | None:
    """Why a checkpoint or transformer the painter will not paint is refused (one line), or None."""
    if any(name.endswith(SCALE_NAMES) for name in shapes):
        return SCALED_FP8
    flux2 = _has(shapes, "single_stream_modulation.lin.weight") or "double_stream_modulation_img.linear.weight" in shapes
    return FLUX2_DEV if flux2 and _flux2_guided(shapes) else None


def not_painted_index(index: Mapping[str, Any]) -> str | None:
    """The same for a diffusers folder, by its model_index.json."""
    return NOT_PAINTED_PIPELINES.get(str(index.get("_class_name", "")))


def recognise_shapes(shapes: Shapes) -> Family | None:
    """The family of a checkpoint or transformer from its tensor names and shapes, or None."""
    for recognise in RECOGNISERS:
        key = recognise(shapes)
        if key is not None:
            return FAMILIES[key]
    return None


def recognise_file(path: Path) -> Family:
    """The family of one .safetensors file, or UnknownModel saying why not."""
    try:
        shapes = safetensors_shapes(path)
    except HeaderError as exc:
        raise UnknownModel(str(exc)) from None
    found = recognise_shapes(shapes)
    if not_painted(shapes):
        raise UnknownModel(f"{path}: {not_painted(shapes)}")
    if found is None:
        raise UnknownModel(f"{path}: not a model of a family the painter knows "
                           f"({', '.join(f.label for f in FAMILIES.values())})")
    return found
