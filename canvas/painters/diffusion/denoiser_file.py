"""The denoiser's tensors of one weights file, under the names diffusers' converters expect.

The files people download keep the transformer under its makers' names (BFL's, Stability's,
Alibaba's) either alone (BFL's and Comfy-Org's releases, ComfyUI's `diffusion_models`,
city96's GGUFs) or under `model.diffusion_model.` beside the text encoders and the VAE
(ComfyUI's saved checkpoints, Stability's SD 3.5 files). diffusers 0.42's converters strip
that prefix for FLUX.1, Chroma, SD 3 and Z-Image only, and FLUX.2's and Qwen-Image's fail on
it; given the whole file, Z-Image's keeps the text encoders' tensors as unexpected ones. So
the painter hands `from_single_file` the denoiser's tensors alone, unprefixed: every family
loads from either form, and an all-in-one file's text encoders (T5-XXL: 9.5 GB) stay on disk.

    tensors = denoiser_tensors(Path("sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors"))
    sorted(tensors)[0]   # "context_embedder.bias" (was "model.diffusion_model.context_embedder.bias")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from canvas.painters.diffusion.families import DENOISER_PREFIXES
from canvas.painters.diffusion.model_family import GGUF


def denoiser_tensors(path: Path) -> dict[str, Any]:
    """The file's denoiser tensors (GGUF ones stay quantized), without the checkpoint prefix."""
    if path.suffix.lower() == GGUF:
        from diffusers.models.model_loading_utils import load_gguf_checkpoint

        # a GGUF file holds the denoiser alone (ComfyUI-GGUF's and city96's convention)
        return _without_prefix(load_gguf_checkpoint(str(path)))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as file:
        names = list(file.keys())
        prefix = _prefix(names)
        return {name[len(prefix):]: file.get_tensor(name) for name in names if name.startswith(prefix)}


def _prefix(names: list[str]) -> str:
    """The denoiser's prefix in a file with these tensor names ("" if it has none)."""
    return next((prefix for prefix in DENOISER_PREFIXES if any(name.startswith(prefix) for name in names)), "")


def _without_prefix(tensors: dict[str, Any]) -> dict[str, Any]:
    prefix = _prefix(list(tensors))
    return {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
