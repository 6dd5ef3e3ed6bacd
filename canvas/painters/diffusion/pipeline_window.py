"""One window through a family's own diffusers inpaint pipeline (pipelines.py loads it):
the window's prefilled pixels and mask in, one generator per candidate, cancel, previews
and a soft seam through `callback_on_step_end`.

    rgb = paint_window(model, image, mask, request, soft_mask=32, index=0, check=cancel.raise_if_cancelled, on_step=show)

The soft seam. The pipelines blend the known part back after every step with the hard
mask: `latents = (1 - mask) * known_t + mask * latents`, known_t being the known image's
latents noised to the next step's level. A hard mask at latent resolution leaves a step
along the band's outer edge that the tiler's feather must hide. SD's loop softens it with
a ramp (denoise.py); here the same ramp r (0 at the mask's edge, 1 at `soft_mask` px
inside) is applied in the callback, right after the pipeline's own blend:
`latents = r * latents + (1 - r) * known_t`. Where the pipeline kept the known part
(mask 0) both terms are known_t, so nothing outside the mask changes; inside, the band
is pulled toward the known image the closer it lies to the edge, exactly as SD's soft
mask does. We chose this over differential diffusion (a per-pixel strength schedule)
because it needs nothing of the pipeline but its own noise and known latents, which
every one of these pipelines makes in `prepare_latents` (noise, image latents) and uses
the same way, so one callback serves all of them; soft_mask 0 skips it, and the window is
then exactly what the pipeline paints. FLUX.1 Fill needs none: like SD's 9-channel UNets
it sees the mask and the known pixels at every step and blends nothing (Family.blend).
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from canvas.painters.base import PaintRequest
from canvas.painters.diffusion.pipelines import PipelineModel
from canvas.painters.diffusion.preview import FittedPreview, latent_grid
from tiler.masks import distance_l1

SIDE = 16  # px: the pipelines want sides divisible by the VAE's 8 times the 2x2 packing
PREVIEWS = 8  # previews per candidate at most

# (steps done, steps in all, a preview or None); may raise Cancelled
StepCallback = Callable[[int, int, "np.ndarray | None"], None]


def paint_window(model: PipelineModel, image: np.ndarray, mask: np.ndarray, request: PaintRequest, soft_mask: int,
                 index: int, check: Callable[[], None], on_step: StepCallback) -> np.ndarray:
    """Candidate `index` (seed + index) of one window: uint8 RGB of the window's shape."""
    h, w = mask.shape
    pad = ((0, -h % SIDE), (0, -w % SIDE))
    if any(after for _, after in pad):  # repeat the edge, as the SD loop does
        image = np.pad(image, pad + ((0, 0),), mode="edge")
        mask = np.pad(mask, pad, mode="edge")
    pipeline, family = model.pipeline, model.family
    blending = soft_mask > 0 and family.blend == "latent blend"
    ramp = _ramp(mask, soft_mask) if blending else None
    known = _Known()
    preview: list[FittedPreview] = []

    def on_step_end(pipe: Any, i: int, t: Any, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        check()  # raises Cancelled out of the pipeline: nothing of the window is returned
        latents = tensors["latents"]
        changed: dict[str, torch.Tensor] = {}
        if ramp is not None and known.image is not None:
            latents = soften(latents, known_at_next_step(pipe.scheduler, known, i), ramp)
            changed["latents"] = latents
        scheduler = pipe.scheduler
        total = len(scheduler.timesteps) - (scheduler.begin_index or 0)
        every = max(1, -(-total // PREVIEWS))
        picture = None
        if (i + 1) % every == 0 or i + 1 == total:
            if not preview and known.pixels_latents is not None:
                preview.append(FittedPreview(known.pixels_latents, known.pixels(image, mask)))
            picture = preview[0](latents) if preview else None
        on_step(i + 1, total, picture)
        return changed

    kwargs = pipeline_call(model, image, mask, request, request.seed + index)
    check()
    with known.capture(pipeline):
        out = pipeline(**kwargs, callback_on_step_end=on_step_end, callback_on_step_end_tensor_inputs=["latents"])
    rgb = (np.asarray(out.images[0], dtype=np.float32) * 255).round().clip(0, 255).astype(np.uint8)
    return rgb[:h, :w]


def pipeline_call(model: PipelineModel, image: np.ndarray, mask: np.ndarray, request: PaintRequest,
                  seed: int) -> dict[str, Any]:
    """The keywords of one call of the family's pipeline, as a user of diffusers writes them."""
    pipeline, family = model.pipeline, model.family
    h, w = mask.shape
    steps = max(1, request.steps)
    kwargs: dict[str, Any] = {
        "prompt": request.prompt,
        "image": Image.fromarray(image),
        "mask_image": Image.fromarray(mask.astype(np.uint8) * 255),
        "height": h,
        "width": w,
        # At least one step, as SD's loop runs (the pipelines refuse a strength of no steps).
        "strength": min(1.0, max(float(request.strength), 1.0 / steps)),
        "num_inference_steps": steps,
        family.guidance_kwarg: float(request.guidance),
        "generator": torch.Generator("cpu").manual_seed(seed),
        "output_type": "np",
    }
    # The negative prompt only where the pipeline guides (unguided, it is not read, and
    # Qwen-Image's pipeline warns at every window that it was given one).
    guided = family.negative_prompt and request.guidance > family.guided_above
    if guided and "negative_prompt" in inspect.signature(pipeline.__call__).parameters:
        kwargs["negative_prompt"] = request.negative_prompt
    return kwargs


def soften(latents: torch.Tensor, known: torch.Tensor, ramp: torch.Tensor) -> torch.Tensor:
    """The pipeline's hard-blended latents, pulled toward `known` (the known image at this
    step's noise level) by the ramp: unchanged where the ramp is 1 and where the pipeline
    kept the known part (there latents == known already)."""
    r = _in_layout(ramp, latents).to(latents.device, latents.dtype)
    return r * latents + (1 - r) * known.to(latents.dtype)


def known_at_next_step(scheduler: Any, known: "_Known", i: int) -> torch.Tensor:
    """The known image's latents noised to the level the pipeline just stepped to, made
    as the pipelines make theirs (the last step: the image itself)."""
    begin = scheduler.begin_index or 0
    if begin + i + 1 < len(scheduler.timesteps):
        t_next = scheduler.timesteps[begin + i + 1]
        return scheduler.scale_noise(known.image, torch.tensor([t_next]), known.noise)
    return known.image


def _ramp(mask: np.ndarray, soft_mask: int) -> torch.Tensor:
    """(1, 1, H, W): 0 outside the mask, rising from its edge to 1 `soft_mask` px inside."""
    inside = distance_l1(~mask).astype(np.float32)  # 0 outside the mask, 1 on its edge
    return torch.from_numpy(np.clip(inside / soft_mask, 0.0, 1.0))[None, None]


def _in_layout(ramp: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """The pixel ramp averaged over each latent pixel or packed patch, shaped to broadcast
    over `latents` ((B, C, h, w), or a (B, patches, D) sequence row by row)."""
    height, width = ramp.shape[-2:]
    grid = latent_grid(latents, height, width)
    pooled = F.adaptive_avg_pool2d(ramp, grid.shape[:2])
    return pooled if latents.ndim == 4 else pooled.reshape(1, -1, 1)


class _Known:
    """What the pipeline made of the window's known pixels, caught as it makes it: its
    noise and image latents (prepare_latents) and, for FLUX.1 Fill, the masked image's
    latents (prepare_mask_latents), for the soft seam and the preview's fit."""

    def __init__(self) -> None:
        self.noise: torch.Tensor | None = None
        self.image: torch.Tensor | None = None
        self.masked: torch.Tensor | None = None

    @contextlib.contextmanager
    def capture(self, pipeline: Any) -> Iterator[None]:
        def prepare_latents(*args: Any, **kwargs: Any) -> Any:
            out = type(pipeline).prepare_latents(pipeline, *args, **kwargs)
            # (latents, noise, image latents, ...) in every inpaint pipeline here; a
            # text-to-image style (latents, ids) pair (FLUX.1 Fill) has none.
            if isinstance(out, tuple) and len(out) >= 3 and all(isinstance(x, torch.Tensor) for x in out[:3]):
                if out[1].shape == out[0].shape and out[2].shape == out[0].shape:
                    self.noise, self.image = out[1], out[2]
            return out

        def prepare_mask_latents(*args: Any, **kwargs: Any) -> Any:
            out = type(pipeline).prepare_mask_latents(pipeline, *args, **kwargs)
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], torch.Tensor):
                self.masked = out[1]
            return out

        # Instance attributes shadow the class's methods for this call only.
        pipeline.prepare_latents = prepare_latents
        pipeline.prepare_mask_latents = prepare_mask_latents
        try:
            yield
        finally:
            del pipeline.prepare_latents
            del pipeline.prepare_mask_latents

    @property
    def pixels_latents(self) -> torch.Tensor | None:
        return self.image if self.image is not None else self.masked

    def pixels(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The pixels `pixels_latents` encode: the window, or (masked latents) the window
        with the mask grey, as the pipelines cut it out."""
        if self.image is not None:
            return image
        return np.where(mask[..., None], np.uint8(128), image)
