"""What a user chooses for the diffusion painter, checked without importing torch.

    settings = DiffusionSettings(model="./sd15-inpaint", scheduler="dpm++ 2m karras")
    settings.scheduler  # "DPM++ 2M Karras"

Names are matched loosely (case, spaces, `-` and `_` alike), so `--scheduler euler-a` and
"Euler a" are the same sampler, and stored in the spelling other tools print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from canvas.painters.base import Choice

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "fp16", "bf16", "fp32")
SCHEDULERS = ("Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "UniPC", "LCM")
# What the masked part starts from (Automatic1111's "masked content"):
# - fill: the tiler's prefill (known colours pushed outwards and blurred), noised to `strength`;
# - original: what the canvas holds under the mask (the job's prefill "original"), noised;
# - latent noise: fresh noise in latent space, whatever the pixels were;
# - latent nothing: zero latents (a flat, neutral start), noised to `strength`.
# At strength 1 all four start from pure noise; they differ below it.
MASKED_CONTENT = ("fill", "original", "latent noise", "latent nothing")
# The families painted through diffusers' pipelines start the masked part from the window's
# pixels (the tiler's prefill, or the canvas's own with "original"): no latent choices.
PIPELINE_MASKED_CONTENT = ("fill", "original")
# diffusers' CPU offload for small GPUs: "model" moves each component to the GPU while it
# runs (enable_model_cpu_offload), "sequential" each layer (slowest, least memory).
OFFLOADS = ("model", "sequential")
# The per-job choices, as the CLI's flags and the server's protocol both offer them.
CHOICES = {
    "scheduler": Choice("Scheduler", SCHEDULERS, "Euler a"),
    "masked_content": Choice("Masked content", MASKED_CONTENT, "fill"),
}
SOFT_MASK = 32  # px over which 4-channel models blend from the known latents to new ones
# How strongly a ControlNet steers (diffusers' controlnet_conditioning_scale): 0 is no
# ControlNet at all; above 2 its residuals swamp the UNet's and pictures fall apart.
CONTROLNET_SCALE = 1.0
CONTROLNET_SCALES = (0.0, 2.0)
EMBEDDING_FILES = (".pt", ".bin", ".safetensors")  # A1111's textual-inversion files
KEEP_MODELS = 2  # loaded models kept by default: the one in use and the one before it
MAX_KEEP_MODELS = 64


class ModelError(ValueError):
    """The model cannot be found or loaded, or a setting is wrong: one line for the user."""


def canonical(name: str, choices: tuple[str, ...], what: str) -> str:
    """`name` as spelled in `choices`, comparing case-blind with `-`, `_` and spaces alike."""
    wanted = _key(name)
    for choice in choices:
        if _key(choice) == wanted:
            return choice
    raise ModelError(f"unknown {what} {name!r}; choose one of: {', '.join(choices)}")


def masked_content(name: str) -> str:
    """A masked-content mode as spelled in MASKED_CONTENT (raises ModelError if unknown)."""
    return canonical(name, MASKED_CONTENT, "masked content")


def _key(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", str(name).strip().lower())


@dataclass(frozen=True)
class DiffusionSettings:
    """How the painter loads its model and paints by default (a job may override the last three)."""

    model: str  # hub id, diffusers folder, or one .safetensors / .ckpt file
    model_config: str | None = None  # diffusers config folder for a single file (needed offline)
    offline: bool = False  # never touch the network: the local Hugging Face cache only
    device: str = "auto"
    dtype: str = "auto"
    vae: str | None = None  # a separate VAE: hub id or folder (e.g. a tiny autoencoder)
    attention_slicing: bool = False  # less memory on small GPUs, a little slower
    vae_tiling: bool = False  # encode and decode in tiles: large windows on small GPUs
    scheduler: str = CHOICES["scheduler"].default
    masked_content: str = CHOICES["masked_content"].default
    soft_mask: int = SOFT_MASK
    controlnet: str | None = None  # an inpaint ControlNet: hub id, diffusers folder or one file
    controlnet_scale: float = CONTROLNET_SCALE
    # Textual-inversion embeddings: files, or folders of them (A1111's `embeddings/`); a
    # prompt uses one by its file name. Those of another family are skipped when loading.
    embeddings: tuple[str, ...] = ()
    # The models library (canvas/library): folders every painter (in this process, in
    # painter processes, on Ray actors) scans for itself, so jobs name models and LoRAs.
    # With it, `model` may be a library name.
    models: tuple[str, ...] = ()
    keep_models: int = KEEP_MODELS  # loaded models kept, at most (model_cache.py)
    model_memory: float | None = None  # GB loaded models may take; None: what the device has free
    offload: str | None = None  # OFFLOADS, or None: the whole model on the device

    def __post_init__(self) -> None:
        if not str(self.model or "").strip():
            raise ModelError("the diffusion painter needs a model: a hub id, a diffusers folder or a .safetensors file")
        set_ = object.__setattr__  # frozen: store the canonical spellings
        set_(self, "device", canonical(self.device, DEVICES, "device"))
        set_(self, "dtype", canonical(self.dtype, DTYPES, "dtype"))
        set_(self, "scheduler", canonical(self.scheduler, SCHEDULERS, "scheduler"))
        set_(self, "masked_content", masked_content(self.masked_content))
        if not isinstance(self.soft_mask, int) or not 0 <= self.soft_mask <= 128:
            raise ModelError(f"soft mask must be 0 to 128 px, got {self.soft_mask!r}")
        low, high = CONTROLNET_SCALES
        scale = self.controlnet_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not low <= scale <= high:
            raise ModelError(f"ControlNet scale must be {low} to {high}, got {scale!r}")
        set_(self, "controlnet_scale", float(scale))
        if self.offload is not None:
            set_(self, "offload", canonical(self.offload, OFFLOADS, "offload"))
        if self.controlnet is not None and not str(self.controlnet).strip():
            raise ModelError("--controlnet needs a ControlNet: a hub id, a diffusers folder or a .safetensors file")
        set_(self, "embeddings", embedding_paths(self.embeddings))
        set_(self, "models", models_folders(self.models))
        keep = self.keep_models
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP_MODELS:
            raise ModelError(f"--keep-models must be 1 to {MAX_KEEP_MODELS}, got {keep!r}")
        memory = self.model_memory
        if memory is not None and (isinstance(memory, bool) or not isinstance(memory, (int, float)) or not memory > 0):
            raise ModelError(f"--model-memory must be a positive number of GB, got {memory!r}")

    def with_options(self, options: dict) -> "DiffusionSettings":
        """These settings with a job's `scheduler`, `masked_content`, `soft_mask` and
        `controlnet_scale`, if it gives them."""
        keys = ("scheduler", "masked_content", "soft_mask", "controlnet_scale")
        known = {key: options[key] for key in keys if key in options}
        if "soft_mask" in known:
            known["soft_mask"] = int(known["soft_mask"])
        return replace(self, **known) if known else self


def embedding_paths(paths: object) -> tuple[str, ...]:
    """`paths` (one path, or several) as a tuple, each an embedding file or a folder that exists."""
    if isinstance(paths, (str, Path)):
        paths = (paths,)
    if not isinstance(paths, (list, tuple)):
        raise ModelError(f"embeddings must be files or folders, got {paths!r}")
    checked = []
    for given in paths:
        if not str(given).strip():
            raise ModelError("--embeddings needs a file or a folder of embeddings")
        path = Path(str(given)).expanduser()
        if path.is_file() and path.suffix.lower() not in EMBEDDING_FILES:
            raise ModelError(f"--embeddings {given}: not an embedding file ({', '.join(EMBEDDING_FILES)}) "
                             "nor a folder of them")
        if not path.exists():
            raise ModelError(f"--embeddings {given}: no such file or folder")
        checked.append(str(path))
    return tuple(checked)


def models_folders(folders: object) -> tuple[str, ...]:
    """`folders` (one, or several) as a tuple of folders that exist."""
    if isinstance(folders, (str, Path)):
        folders = (folders,)
    if not isinstance(folders, (list, tuple)):
        raise ModelError(f"--models must be folders, got {folders!r}")
    checked = []
    for given in folders:
        path = Path(str(given)).expanduser()
        if not str(given).strip() or not path.is_dir():
            raise ModelError(f"--models {given}: no such folder")
        checked.append(str(path))
    return tuple(checked)
