"""Images in and out: binarised RGBA for import, PNG with A1111-style parameters for export.

The ``parameters`` tEXt chunk is what Automatic1111 writes and what image viewers,
civitai and most tooling read back, so an exported crop says how it was made:

    a lighthouse at dusk, oil painting
    Negative prompt: blurry
    Painter: diffusion, Seed: 7, Steps: 30, CFG scale: 7.5, Boundless revision: 12, Level: 0
"""

from __future__ import annotations

import json
import os
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin

PROMPT_KEYS = ("prompt",)
NEGATIVE_KEYS = ("negative_prompt", "negative")
LABELS = {
    "cfg_scale": "CFG scale",
    "guidance_scale": "CFG scale",
    "num_inference_steps": "Steps",
    "strength": "Denoising strength",
    "denoising_strength": "Denoising strength",
    "scheduler": "Sampler",
    "controlnet": "ControlNet",
    "controlnet_scale": "ControlNet scale",
}


def to_rgba(image: np.ndarray) -> np.ndarray:
    """An (h, w, 4) uint8 copy: RGB or grey becomes opaque, alpha is binarised at 128."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be (h, w), (h, w, 3) or (h, w, 4), got {image.shape}")
    h, w, channels = image.shape
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = image[..., :3] if channels >= 3 else image
    known = image[..., 3] >= 128 if channels == 4 else np.ones((h, w), bool)
    rgba[..., 3] = np.where(known, 255, 0)
    rgba[~known] = 0
    return rgba


def parameters_text(params: dict[str, Any], revision: int, level: int) -> str:
    """A1111 style: prompt, then "Negative prompt: ...", then "Key: value, ..." on one line."""
    lines = []
    prompt = next((params[k] for k in PROMPT_KEYS if params.get(k)), None)
    negative = next((params[k] for k in NEGATIVE_KEYS if params.get(k)), None)
    if prompt:
        lines.append(str(prompt))
    if negative:
        lines.append(f"Negative prompt: {negative}")
    fields = [
        f"{_label(key)}: {_value(value)}"
        for key, value in params.items()
        if key not in PROMPT_KEYS + NEGATIVE_KEYS and value is not None
    ]
    fields += [f"Boundless revision: {revision}", f"Level: {level}"]
    lines.append(", ".join(fields))
    return "\n".join(lines)


def write_png(rgba: np.ndarray, parameters: str, out: str | os.PathLike | BinaryIO) -> None:
    """Write RGBA with the parameters chunk (tEXt, or iTXt when it is not Latin-1)."""
    info = PngImagePlugin.PngInfo()
    # Text that is not valid Unicode (a lone surrogate from an old client) must not make
    # the canvas unexportable: such characters become "?".
    info.add_text("parameters", parameters.encode("utf-8", "replace").decode("utf-8"))
    Image.fromarray(np.ascontiguousarray(rgba)).save(out, format="PNG", pnginfo=info, compress_level=4)


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " ").capitalize())


def _value(value: Any) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (dict, list, tuple)) else str(value)
    if any(c in text for c in ",:\n"):
        return json.dumps(text)  # A1111 quotes values that would break the comma list
    return text
