"""One window through the model, top to bottom: encode, denoise step by step, decode.

The diffusers inpainting pipelines' loop, written out so the painter controls what they
do not offer: the start of the masked part (masked content), a soft blend mask for
4-channel models, a preview and a cancel check at every step, and no image pre- or
post-processing (the tiler prefills and composites). With a ControlNet (controlnet.py),
its residuals join the UNet's at every step; nothing else changes.

    pixels = inpaint(model, window, text, sampling, generator, check=cancel.raise_if_cancelled, on_step=show)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from canvas.painters.diffusion.controlnet import Control
from canvas.painters.diffusion.loading import LoadedModel
from canvas.painters.diffusion.prompts import TextConditioning

LATENT_SCALE = 8  # pixels per latent pixel, a side, for every SD and SDXL VAE
# SDXL's micro-conditioning scores for the refiner-style models that ask for them.
AESTHETIC, NEGATIVE_AESTHETIC = 6.0, 2.5

# (steps done, steps in all, latents to preview); may raise Cancelled
StepCallback = Callable[[int, int, torch.Tensor], None]


@dataclass
class Window:
    pixels: torch.Tensor  # (1, 3, H, W) in [-1, 1]: the start image, prefilled by the tiler
    mask: torch.Tensor  # (1, 1, H, W) 1.0 where the model paints
    blend: torch.Tensor  # (1, 1, H/8, W/8) 4-channel models: share of new latents (soft or hard)


@dataclass
class Sampling:
    scheduler: Any
    steps: int
    strength: float  # 1: from pure noise; lower: the start image, noised part of the way
    guidance: float  # classifier-free guidance scale; 1 or less: none (half the UNet work)
    masked_content: str  # settings.MASKED_CONTENT
    controlnet_scale: float = 1.0  # with a ControlNet: how strongly it steers (0: not at all)


def is_guided(model: LoadedModel, guidance: float) -> bool:
    """Classifier-free guidance runs the UNet twice a step; guidance-distilled (LCM) UNets
    take the scale as an input instead."""
    return guidance > 1 and model.pipeline.unet.config.time_cond_proj_dim is None


def sampled_steps(steps: int, strength: float) -> int:
    """Steps a window actually runs: the last `strength` of the schedule, at least one."""
    return max(1, min(steps, int(steps * strength)))


def inpaint(
    model: LoadedModel,
    window: Window,
    text: TextConditioning,
    sampling: Sampling,
    generator: torch.Generator,
    check: Callable[[], None],
    on_step: StepCallback,
) -> torch.Tensor:
    """The painted window as (1, 3, H, W) in [-1, 1]."""
    pipeline, unet, scheduler = model.pipeline, model.pipeline.unet, sampling.scheduler
    guided = is_guided(model, sampling.guidance)

    # 1. The schedule: the last `strength` of `steps`.
    scheduler.set_timesteps(sampling.steps, device=model.device)
    skip = (sampling.steps - sampled_steps(sampling.steps, sampling.strength)) * scheduler.order
    timesteps = scheduler.timesteps[skip:]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(skip)

    # 2. Latents of what is known: the start image (4-channel models keep it outside the
    # mask; any model starts from it below full strength), and for 9-channel models the
    # image with the mask cut out, which they see at every step with the mask itself.
    masked_latents = (F.max_pool2d(window.mask, LATENT_SCALE) > 0).to(model.dtype)
    image_latents = encode(model, window.pixels) if not model.inpainting or sampling.strength < 1 else None
    extra = None
    if model.inpainting:
        mask = F.interpolate(window.mask, size=masked_latents.shape[-2:]).to(model.dtype)
        cut = encode(model, window.pixels * (window.mask < 0.5))
        extra = torch.cat([mask, cut], dim=1).repeat(2 if guided else 1, 1, 1, 1)

    # 3. The start: pure noise at full strength, else the image (with the masked content
    # chosen) noised to the first timestep.
    shape = (1, 4, *masked_latents.shape[-2:])
    noise = _noise(shape, generator, model)
    if sampling.strength >= 1:
        latents = noise * scheduler.init_noise_sigma
    else:
        start = _masked_start(image_latents, masked_latents, sampling.masked_content, generator, model)
        latents = scheduler.add_noise(start, noise, timesteps[:1])

    # 4. What the UNet sees besides latents and text.
    added = _added_conditioning(model, text, window.pixels.shape[-2:], guided)
    timestep_cond = None
    if unet.config.time_cond_proj_dim is not None:  # guidance-distilled (LCM) UNets
        scale = torch.tensor([sampling.guidance - 1.0])
        embedding = pipeline.get_guidance_scale_embedding(scale, embedding_dim=unet.config.time_cond_proj_dim)
        timestep_cond = embedding.to(model.device, model.dtype)
    step_kwargs = {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
    control = None
    if model.controlnet is not None and sampling.controlnet_scale > 0:
        control = Control.of(model.controlnet, window.pixels, window.mask, rows=2 if guided else 1,
                             scale=sampling.controlnet_scale, dtype=model.dtype)
    blend = window.blend.to(model.dtype)

    # 5. Denoise.
    for i, t in enumerate(timesteps):
        check()
        model_input = torch.cat([latents] * 2) if guided else latents
        model_input = scheduler.scale_model_input(model_input, t)
        residuals = control.residuals(model_input, t, text.embeds, added, timestep_cond) if control else {}
        if extra is not None:
            model_input = torch.cat([model_input, extra], dim=1)
        noise_pred = unet(
            model_input, t, encoder_hidden_states=text.embeds, timestep_cond=timestep_cond,
            added_cond_kwargs=added, return_dict=False, **residuals,
        )[0]
        if guided:
            unconditional, conditional = noise_pred.chunk(2)
            noise_pred = unconditional + sampling.guidance * (conditional - unconditional)
        out = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=True)
        estimate = _estimate(out, scheduler, latents, noise_pred, t)
        latents = out.prev_sample
        if image_latents is not None and not model.inpainting:
            # Keep the known part: the image noised to the next step's level (the last
            # step: the image itself), weighted by the (soft) blend mask.
            last = i == len(timesteps) - 1
            known = image_latents if last else scheduler.add_noise(image_latents, noise, timesteps[i + 1 : i + 2])
            latents = blend * latents + (1 - blend) * known
            estimate = blend * estimate.to(model.dtype) + (1 - blend) * image_latents
        on_step(i + 1, len(timesteps), estimate)
    check()
    return decode(model, latents)


def encode(model: LoadedModel, pixels: torch.Tensor) -> torch.Tensor:
    """Scaled latents of (B, 3, H, W) pixels in [-1, 1]; the distribution's mode, so that
    the same window always encodes the same (AutoencoderKL; AutoencoderTiny has no spread)."""
    vae = model.pipeline.vae
    out = vae.encode(pixels.to(model.vae_dtype))
    latents = out.latent_dist.mode() if hasattr(out, "latent_dist") else out.latents
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return ((latents - shift) * vae.config.scaling_factor).to(model.dtype)


def decode(model: LoadedModel, latents: torch.Tensor) -> torch.Tensor:
    vae = model.pipeline.vae
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return vae.decode(latents.to(model.vae_dtype) / vae.config.scaling_factor + shift).sample


def _noise(shape: tuple[int, ...], generator: torch.Generator, model: LoadedModel) -> torch.Tensor:
    # Drawn on the generator's device (the CPU) and moved: the same seed gives the same
    # start on every device.
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(model.device, model.dtype)


def _masked_start(image_latents: torch.Tensor, masked: torch.Tensor, content: str, generator: torch.Generator,
                  model: LoadedModel) -> torch.Tensor:
    """What the masked part starts from below full strength (settings.MASKED_CONTENT)."""
    if content == "latent noise":
        return torch.where(masked > 0, _noise(image_latents.shape, generator, model), image_latents)
    if content == "latent nothing":
        return image_latents * (1 - masked)
    return image_latents  # fill and original: the pixels the tiler gave, encoded


def _added_conditioning(model: LoadedModel, text: TextConditioning, size: torch.Size, guided: bool) -> dict | None:
    """SDXL's pooled text and size conditioning: trained on uncropped images of this size."""
    if not model.xl:
        return None
    pipeline = model.pipeline
    hw = (int(size[0]), int(size[1]))
    sizes = {"original_size": hw, "crops_coords_top_left": (0, 0), "target_size": hw}
    if "negative_original_size" in inspect.signature(pipeline._get_add_time_ids).parameters:
        # the inpainting pipeline's; the ControlNet one's negative sizes are the same as these
        sizes.update(negative_original_size=hw, negative_crops_coords_top_left=(0, 0), negative_target_size=hw)
    time_ids, negative_time_ids = pipeline._get_add_time_ids(
        **sizes, aesthetic_score=AESTHETIC, negative_aesthetic_score=NEGATIVE_AESTHETIC,
        dtype=model.dtype, text_encoder_projection_dim=pipeline.text_encoder_2.config.projection_dim,
    )
    if guided:
        time_ids = torch.cat([negative_time_ids, time_ids])
    return {"text_embeds": text.pooled, "time_ids": time_ids.to(model.device)}


def _estimate(out: Any, scheduler: Any, sample: torch.Tensor, model_output: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The scheduler's guess of the final latents at this step, for the preview.

    Euler, DDIM and LCM return it; for the multistep solvers (which work on unscaled
    latents) it follows from the noise schedule and the prediction.
    """
    for name in ("pred_original_sample", "denoised"):
        value = getattr(out, name, None)
        if value is not None:
            return value
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is None:
        return out.prev_sample
    alpha = alphas[int(t)].to(sample.device, torch.float32)
    sample, model_output = sample.float(), model_output.float()
    prediction = scheduler.config.prediction_type
    if prediction == "v_prediction":
        return alpha.sqrt() * sample - (1 - alpha).sqrt() * model_output
    if prediction == "epsilon":
        return (sample - (1 - alpha).sqrt() * model_output) / alpha.sqrt()
    return model_output
