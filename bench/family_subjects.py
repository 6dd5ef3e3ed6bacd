"""Each transformer family's window as the job path's overhead is measured for it
(bench/path_overhead.py): the family's own diffusers inpaint pipeline with its FULL-SIZE
denoiser (bench/families.py's config, random weights, built straight in bf16), the
real-size VAE, and tiny text encoders of the real output width.

    subject = family_subject("sd3")             # SD 3.5 Medium's MMDiT, real VAE, 2 steps, bf16
    subject = family_subject("sd3", tiny=True)  # tests/tiny_families' pipeline: seconds, for tests

What is real and what is not, and why:
- The denoiser: the published configuration, so the painter's cost per step is the real
  one and the overhead a ratio to it. A family is built whole only when twice its bf16
  weights are free (MemAvailable); else with the real width and fewer blocks (REDUCED),
  said in the note: the job path's cost per window does not depend on the denoiser, the
  painter's does, so a reduced model overstates the overhead (the figure is an upper bound).
- The VAE: the real configuration (FLUX.1's, SD3's, FLUX.2's, Qwen-Image's layouts at their
  real widths), random weights. A window's whole cost is the measure, and a real window
  encodes and decodes through the real VAE; it is ~0.1-0.25 B parameters, it fits.
- The text encoders: the tiny ones of tests/tiny_families widened to the real output width
  (T5 4096, CLIP 768/1280, Qwen3 2560, Qwen2.5-VL 3584), a layer or two: the real ones
  (T5-XXL 4.7 B, Qwen2.5-VL 7 B) would not fit beside the denoiser, and encoding the prompt
  is the same work with or without the job path, so leaving it small again only makes the
  overhead look larger. The text length the denoiser sees is the real one (the tokenizers
  pad as the real ones do).
- No guidance (the family's `guided_above`, 1.0 or Z-Image's 0: one forward a step), 2 steps, one thread (bench/diffusion.py's
  `one_thread`), like the SD case.
"""

from __future__ import annotations

import copy
import inspect
import sys
from pathlib import Path
from typing import Any

from families import CONFIGS, available_gb, parameters
from families import build as build_denoiser
from path_overhead import Subject

from canvas.painters import PaintRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

FAMILY_KEYS = ("flux-fill", "flux", "sd3", "flux2-klein", "z-image", "qwen-image", "chroma")
WINDOW = 512
STEPS = 2
PROMPT = "a quiet street in the rain, photograph"

# Fewer blocks at the real width, for a denoiser whose bf16 weights do not fit twice.
REDUCED: dict[str, dict[str, Any]] = {
    "flux": dict(num_layers=2, num_single_layers=4),
    "flux-fill": dict(num_layers=2, num_single_layers=4),
    "chroma": dict(num_layers=2, num_single_layers=4),
    "flux2-klein": dict(num_layers=2, num_single_layers=4),
    "qwen-image": dict(num_layers=4),
    "z-image": dict(n_layers=4),
    "sd3": dict(num_layers=6),
}
BLOCK_KEYS = ("num_layers", "num_single_layers", "n_layers")

# The real VAEs' widths over the tiny ones' layouts (same classes, same latent channels).
REAL_VAE: dict[str, dict[str, Any]] = {
    # FLUX.1's (Chroma's, Z-Image's) and SD3's: black-forest-labs/FLUX.1-dev vae/config.json
    "AutoencoderKL": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32),
    # FLUX.2's: AutoencoderKLFlux2's defaults, which are its config
    "AutoencoderKLFlux2": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32),
    # Qwen-Image's: AutoencoderKLQwenImage's defaults, Qwen/Qwen-Image vae/config.json
    "AutoencoderKLQwenImage": dict(base_dim=96, num_res_blocks=2),
}

# The output width each text encoder must have, by the pipeline's attribute.
TEXT_WIDTH: dict[str, dict[str, int]] = {
    "flux-fill": {"text_encoder": 768, "text_encoder_2": 4096},  # CLIP-L pooled, T5-XXL
    "flux": {"text_encoder": 768, "text_encoder_2": 4096},
    "sd3": {"text_encoder": 768, "text_encoder_2": 1280, "text_encoder_3": 4096},  # CLIP-L, bigG, T5-XXL
    "flux2-klein": {"text_encoder": 2560},  # Qwen3-4B
    "z-image": {"text_encoder": 2560},  # Qwen3-4B
    "qwen-image": {"text_encoder": 3584},  # Qwen2.5-VL-7B
    "chroma": {"text_encoder": 4096},  # T5-XXL
}


def family_subject(key: str, tiny: bool = False, steps: int = STEPS, reduced: bool = False) -> Subject:
    """Family `key`'s painter, its pipeline called directly, and the job's request.
    `reduced`: the denoiser with fewer blocks (REDUCED) even where the whole one fits."""
    import torch

    from canvas.painters.diffusion import DiffusionSettings
    from canvas.painters.diffusion.painter import DiffusionPainter
    from canvas.painters.diffusion.pipeline_window import pipeline_call
    from tiny_families import build_pipeline

    if key not in FAMILY_KEYS:
        raise ValueError(f"unknown family {key!r}; known: {', '.join(FAMILY_KEYS)}")
    pipeline = build_pipeline(key)
    if tiny:
        note = f"{key}: tests/tiny_families' tiny pipeline, fp32, {steps} steps (a test of the bench, not a figure)"
        dtype = "fp32"
    else:
        pipeline, built = full_size(key, pipeline, reduced)
        note = f"{built}; real-size VAE, tiny text encoders of the real width, bf16, no guidance, {steps} steps, one thread"
        dtype = "bf16"
    painter = DiffusionPainter(DiffusionSettings(model=f"{key} (random weights)", device="cpu", dtype=dtype),
                               pipeline=pipeline)
    from canvas.painters.diffusion.families import FAMILIES

    request = PaintRequest(prompt=PROMPT, seed=1, steps=steps, guidance=FAMILIES[key].guided_above)

    def call(image, mask) -> None:
        # diffusers' pipeline as a user calls it, with the painter's settings and no callback.
        with torch.inference_mode():
            painter.model.pipeline(**pipeline_call(painter.model, image, mask, request, request.seed))

    return Subject(key, painter, request, WINDOW, call, note=note)


def full_size(key: str, tiny, reduced: bool = False) -> tuple[Any, str]:
    """The tiny pipeline with the real denoiser (whole, or reduced when asked or when it does
    not fit), the real VAE and text encoders of the real width, all in bf16; and a line
    saying which."""
    import torch

    config = CONFIGS[key]
    whole = config.config
    weights_gb = parameters(build_denoiser(config, "meta", torch.bfloat16)) * 2 / 2**30
    free = available_gb()
    if free >= 2 * weights_gb and not reduced:
        chosen, said = config, f"{config.model} denoiser at full size ({weights_gb:.1f} GB bf16)"
    else:
        fewer = {**whole, **REDUCED[key]}
        chosen = type(config)(**{**config.__dict__, "config": fewer})
        blocks = ", ".join(f"{fewer[k]} of {whole[k]} {k}" for k in BLOCK_KEYS if k in fewer)
        why = ("as asked (--reduced)" if reduced else
               f"the whole one needs {2 * weights_gb:.1f} GB free (2x its bf16 weights), {free:.1f} GB available")
        said = (f"{config.model} denoiser REDUCED to {blocks} at the real width, {why}; the path's cost per "
                "window is the same, the painter's smaller, so this overhead is an upper bound")
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built straight in bf16: no fp32 copy of anything
    try:
        parts: dict[str, Any] = {"transformer": build_denoiser(chosen, "cpu", torch.bfloat16)}
        parts["vae"] = type(tiny.vae).from_config({**tiny.vae.config, **REAL_VAE[type(tiny.vae).__name__]})
        for name, width in TEXT_WIDTH[key].items():
            parts[name] = widened(getattr(tiny, name), width)
    finally:
        torch.set_default_dtype(default)
    # Keys the real config.json holds beyond the class's arguments (Chroma1-HD's
    # guidance_embeds, which its pipeline reads), as the tiny one registers them.
    extra = {k: v for k, v in tiny.transformer.config.items() if k not in parts["transformer"].config}
    parts["transformer"].register_to_config(**extra)
    return rebuilt(tiny, parts), said


def widened(encoder, width: int):
    """A new text encoder of `encoder`'s class and depth whose output is `width` wide."""
    config = copy.deepcopy(encoder.config)
    kind = type(config).__name__
    if kind == "T5Config":
        config.d_model = width
    elif kind == "CLIPTextConfig":
        config.hidden_size = config.projection_dim = width
    elif kind == "Qwen3Config":
        config.hidden_size = width  # its head_dim is set: the attention stays tiny
    elif kind == "Qwen2_5_VLConfig":
        # Its head_dim is hidden / heads: Qwen2.5-VL-7B's 28 heads of 128 with its rotary split.
        text = config.text_config
        text.hidden_size, text.num_attention_heads, text.num_key_value_heads = width, width // 128, 4
        text.rope_parameters = {**text.rope_parameters, "mrope_section": [16, 24, 24]}
        config.vision_config.out_hidden_size = width
    else:
        raise ValueError(f"no way to widen a {kind}")
    return type(encoder)(config)


def rebuilt(pipeline, parts: dict[str, Any]):
    """A new pipeline of `pipeline`'s class from its components with `parts` swapped in, and
    its own settings (e.g. Klein's is_distilled): its __init__ derives what it needs from them."""
    params = inspect.signature(type(pipeline).__init__).parameters
    settings = {name: pipeline.config[name] for name in params if name not in pipeline.components and name in pipeline.config}
    return type(pipeline)(**{**pipeline.components, **parts, **settings})
