"""A cheap picture of latents: each latent pixel's four channels mapped linearly to RGB.

A full VAE decode costs as much as a sampling step on a CPU; this costs a small matrix
product and gives an image 1/8 the size, enough to watch a window take shape.

    rgb = latents_to_rgb(x0, xl=False)   # uint8 (h/8, w/8, 3)
"""

from __future__ import annotations

import numpy as np
import torch

# Least-squares fits of RGB on SD's and SDXL's (scaled) latents, as ComfyUI publishes them.
SD_FACTORS = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))
XL_FACTORS = ((0.3920, 0.4054, 0.4549), (-0.2634, -0.0196, 0.0653), (0.0568, 0.1687, -0.0755), (-0.3112, -0.2359, -0.2076))


def latents_to_rgb(latents: torch.Tensor, xl: bool) -> np.ndarray:
    """The first of a batch of (B, 4, h, w) latents as uint8 RGB (h, w, 3)."""
    factors = torch.tensor(XL_FACTORS if xl else SD_FACTORS, dtype=torch.float32)
    plane = latents[0].detach().to("cpu", torch.float32).permute(1, 2, 0)  # h, w, 4
    rgb = (plane @ factors + 1.0) * 127.5
    return rgb.clamp(0, 255).to(torch.uint8).numpy()


# --- the families painted through diffusers' pipelines ----------------------------------
#
# Their latents come in three layouts: (B, C, h, w) as SD's (SD 3.x, Z-Image), or packed
# into a sequence of 2x2 patches (B, h/2 * w/2, 4C) (FLUX.1, Chroma, Qwen-Image, FLUX.2),
# with 16, 32 or 48 channels normalised each family its own way. Rather than a table of
# published factors per VAE (and a wrong picture for any VAE not in it), the preview map is
# fitted per window: the pipeline's own latents of the window's known pixels against those
# pixels, by least squares (ridge-regularised: a 64 px window has fewer latent pixels than
# a packed latent has channels). Cheap (one small solve), and right for any VAE, random
# tiny ones included. Packed patches are unpacked first (every pipeline here packs a 2x2
# patch channel by channel, then row, then column), so the picture is 1/8 a side, as SD's.

RIDGE = 1e-2


def latent_grid(latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The first of a batch of latents, in either layout, as (gh, gw, D) over a window of
    height x width px: one row of D numbers per latent pixel or packed patch."""
    first = latents[0].detach()
    if first.ndim == 3:  # C, h, w
        return first.permute(1, 2, 0)
    cells = first.shape[0]  # a sequence of patches, row by row
    side = round((height * width / cells) ** 0.5)  # px a patch covers a side
    return first.reshape(height // side, width // side, first.shape[-1])


def latent_pixels(latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The first of a batch of latents as (h, w, C), one row per latent pixel: packed 2x2
    patches ((c, dy, dx) in their channels) unpacked."""
    grid = latent_grid(latents, height, width)
    if latents[0].ndim == 3 or grid.shape[-1] % 4:
        return grid
    gh, gw, depth = grid.shape
    patches = grid.reshape(gh, gw, depth // 4, 2, 2).permute(0, 3, 1, 4, 2)  # gh, dy, gw, dx, c
    return patches.reshape(gh * 2, gw * 2, depth // 4)


class FittedPreview:
    """latents -> uint8 RGB, by a linear map fitted on one window's known latents."""

    def __init__(self, known: torch.Tensor, pixels: np.ndarray) -> None:
        """`known`: the pipeline's latents (either layout) of `pixels`, uint8 (H, W, 3)."""
        height, width = pixels.shape[:2]
        grid = latent_pixels(known, height, width).to("cpu", torch.float32)
        gh, gw, depth = grid.shape
        target = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
        target = torch.nn.functional.adaptive_avg_pool2d(target, (gh, gw))[0].permute(1, 2, 0).reshape(-1, 3)
        x = torch.cat([grid.reshape(-1, depth), torch.ones(gh * gw, 1)], dim=1).double()
        gram = x.T @ x + RIDGE * torch.eye(depth + 1, dtype=torch.float64)
        self.factors = torch.linalg.solve(gram, x.T @ target.double()).float()  # (D + 1, 3)
        self.size = (height, width)

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        grid = latent_pixels(latents, *self.size).to("cpu", torch.float32)
        rgb = (grid @ self.factors[:-1] + self.factors[-1] + 1.0) * 127.5
        return rgb.clamp(0, 255).to(torch.uint8).numpy()
