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
