"""Images in and out: binarised RGBA for import, PNG with A1111-style parameters for export.

The ``parameters`` tEXt chunk is what Automatic1111 writes and what its PNG Info, image
viewers, civitai and readers such as sd-parsers take back, so an exported crop says how it
was made. A1111's keys come first, in its order and spelling (its `create_infotext`), then
ours:

    a lighthouse at dusk, oil painting
    Negative prompt: blurry
    Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 7, Size: 768x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 1, Mask blur: 48, Target: expand down 256, Pad: 64, Painter: diffusion, Boundless revision: 12, Level: 0

The history keeps its own params; the mapping happens here. A LoRA a job used is in the
params as ``loras: {name: hash}`` (or ``[{"name": ..., "hash": ...}]``), written as A1111 does:
``Lora hashes: "name: hash, name2: hash2"`` (the weights are in the prompt's tags); the
textual-inversion embeddings its prompts name as ``embeddings: {name: hash}``, written
``TI hashes: "name: hash"`` (A1111's sd_hijack_clip: the embeddings the encoder met).
"""

from __future__ import annotations

import json
import os
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin

PROMPT_KEYS = ("prompt",)
NEGATIVE_KEYS = ("negative_prompt", "negative")
# A1111's keys in the order its create_infotext writes them, each with the keys of our
# params it reads (today's, then older records' spellings). "Size" is the exported image's.
A1111_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Steps", ("steps", "num_inference_steps")),
    ("Sampler", ("scheduler",)),
    ("CFG scale", ("guidance", "cfg_scale", "guidance_scale")),
    ("Seed", ("seed",)),
    ("Size", ()),
    ("Model hash", ("model_hash",)),
    ("Model", ("model",)),
    ("VAE", ("vae",)),
    ("Denoising strength", ("strength", "denoising_strength")),
    ("Mask blur", ("feather",)),  # the px over which new content blends into the old
    ("Lora hashes", ("loras",)),
    ("TI hashes", ("embeddings",)),
)
# Ours, after A1111's: labels that plain capitalisation would spell wrong.
LABELS = {"controlnet": "ControlNet", "controlnet_scale": "ControlNet scale"}
# The extensions A1111 strips from a checkpoint's file name to name the model.
MODEL_FILES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf")


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


def parameters_text(params: dict[str, Any], revision: int, level: int, size: tuple[int, int]) -> str:
    """A1111 style: prompt, then "Negative prompt: ...", then "Key: value, ..." on one line.
    `size` is the exported image's (width, height)."""
    lines = []
    prompt = next((params[k] for k in PROMPT_KEYS if params.get(k)), None)
    negative = next((params[k] for k in NEGATIVE_KEYS if params.get(k)), None)
    if prompt:
        lines.append(str(prompt))
    if negative:
        lines.append(f"Negative prompt: {negative}")
    fields, used = [], set(PROMPT_KEYS + NEGATIVE_KEYS)
    for label, keys in A1111_KEYS:
        key = next((k for k in keys if params.get(k) is not None), None)
        used.update(keys)
        value = f"{size[0]}x{size[1]}" if label == "Size" else None if key is None else _a1111_value(label, params[key])
        if value:
            fields.append(f"{label}: {_quote(value)}")
    fields += [
        f"{LABELS.get(key, key.replace('_', ' ').capitalize())}: {_quote(_text(value))}"
        for key, value in params.items()
        if key not in used and value is not None
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


def _a1111_value(label: str, value: Any) -> str:
    """`value` as A1111 writes it under `label` ("" when there is nothing to write)."""
    if label in ("Model", "VAE"):
        return model_name(str(value))
    if label in ("Lora hashes", "TI hashes"):
        # A1111 drops ":" and "," from the names, so that the list splits back. The history
        # keeps {name: hash} (canvas/library/records.py); a list of {name, hash} reads alike.
        if isinstance(value, dict):
            value = [{"name": name, "hash": short} for name, short in value.items()]
        loras = [lora for lora in value if isinstance(lora, dict)] if isinstance(value, list) else []
        return ", ".join(f"{str(lora.get('name', '')).replace(':', '').replace(',', '')}: {lora['hash']}"
                         for lora in loras if lora.get("hash"))
    return _text(value)


def model_name(model: str) -> str:
    """A model as A1111 names it: a file's stem or a folder's name, never a path (the last
    part of a hub id)."""
    name = model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return stem if dot and f".{extension.lower()}" in MODEL_FILES else name


def _text(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # A1111 prints "CFG scale: 7", not 7.0
    return str(value)


def _quote(text: str) -> str:
    """A1111's quoting: a value that would break the comma list becomes a JSON string."""
    if any(c in text for c in ",:\n"):
        return json.dumps(text, ensure_ascii=False)
    return text
