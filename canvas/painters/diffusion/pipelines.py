"""Load a family that diffusers' own inpaint pipeline paints (FLUX.1 Fill, FLUX.1, FLUX.2
Klein, Z-Image, Qwen-Image, SD 3.x, Chroma): from a diffusers folder or a cached hub id, or
one transformer file (.safetensors, or GGUF-quantized) with `--model-config` giving the rest.

    model = load_pipeline_model(settings, find_family(settings))
    model.pipeline  # a FluxFillPipeline, a ZImageInpaintPipeline, ...

SD 1.x/2.x/XL never come here: they load in loading.py and paint in our own loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from canvas.painters.diffusion.denoiser_file import denoiser_tensors
from canvas.painters.diffusion.families import Family
from canvas.painters.diffusion.hashes import FileHash
from canvas.painters.diffusion.loading import _quiet, first_line, for_inference, resolve_device, resolve_dtype
from canvas.painters.diffusion.model_family import GGUF, FoundModel
from canvas.painters.diffusion.settings import DiffusionSettings, ModelError

WINDOW_LIMITS = (512, 1024)  # the tiler's


@dataclass
class PipelineModel:
    pipeline: Any  # the family's diffusers inpaint pipeline
    family: Family
    native: int  # px a side it paints best at: the default window
    device: torch.device  # where its tensors start (the GPU with offload)
    dtype: torch.dtype
    offload: str | None = None
    file_hash: FileHash | None = None  # of a single model file (hashes.py); None for folders

    @property
    def hash(self) -> str | None:
        """A1111's short hash of the model file (waits for it if it is still being read)."""
        return self.file_hash.value() if self.file_hash else None

    @property
    def kind(self) -> str:
        return self.family.key


def check_offload(settings: DiffusionSettings, offload_to: torch.device | None = None) -> None:
    """CPU offload shuttles weights between the CPU and a CUDA GPU: without one it is a
    mistake, said at start-up."""
    if settings.offload and offload_to is None and not torch.cuda.is_available():
        raise ModelError(f"--offload {settings.offload} moves weights between the CPU and a CUDA GPU, "
                         "and this PyTorch has no CUDA GPU: leave out --offload")


def load_pipeline_model(settings: DiffusionSettings, found: FoundModel) -> PipelineModel:
    check_offload(settings)
    family = found.family
    device = torch.device("cuda") if settings.offload else resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    single = isinstance(found.where, Path) and found.where.is_file()
    file_hash = FileHash(found.where) if single else None  # read beside the load, not after it
    with _quiet():
        try:
            pipeline = _load(settings, found, dtype)
        except ModelError:
            raise
        except Exception as exc:  # diffusers, transformers, gguf and huggingface_hub raise many kinds
            raise ModelError(f"cannot load {settings.model} as {family.label}: {first_line(exc)}") from exc
    model = prepare_pipeline(pipeline, family, settings)
    model.file_hash = file_hash
    return model


def prepare_pipeline(pipeline: Any, family: Family, settings: DiffusionSettings,
                     offload_to: torch.device | None = None) -> PipelineModel:
    """A family's pipeline in memory, on the settings' device (or offloaded), ready to paint.
    `offload_to`: the accelerator `--offload` moves weights to while they work; None is the
    CUDA GPU. The tests give the CPU: accelerate's hooks then run here as on a GPU (moving
    weights to the meta device and back, for sequential offload), which is what they check."""
    check_offload(settings, offload_to)
    device = (offload_to or torch.device("cuda")) if settings.offload else resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    with _quiet():
        if settings.offload == "model":
            pipeline.enable_model_cpu_offload(device=device)
        elif settings.offload == "sequential":
            pipeline.enable_sequential_cpu_offload(device=device)
        elif getattr(getattr(pipeline, "transformer", None), "is_quantized", False):
            pipeline.to(device=device)  # GGUF weights stay quantized: loaded in the dtype already
        else:
            pipeline.to(device=device, dtype=dtype)
    for_inference(pipeline)
    if settings.attention_slicing and hasattr(pipeline, "enable_attention_slicing"):
        pipeline.enable_attention_slicing()
    if settings.vae_tiling and hasattr(pipeline.vae, "enable_tiling"):
        pipeline.vae.enable_tiling()
    pipeline.set_progress_bar_config(disable=True)
    return PipelineModel(pipeline=pipeline, family=family, native=_native(family), device=device,
                         dtype=dtype, offload=settings.offload)


def family_of_pipeline(pipeline: Any) -> Family | None:
    """The family whose inpaint pipeline `pipeline` is (one built in code), or None."""
    from canvas.painters.diffusion.families import FAMILIES

    name = type(pipeline).__name__
    return next((family for family in FAMILIES.values() if family.inpaint_pipeline == name), None)


def _load(settings: DiffusionSettings, found: FoundModel, dtype: torch.dtype) -> Any:
    import diffusers

    family = found.family
    assert family.inpaint_pipeline is not None
    pipeline_class = getattr(diffusers, family.inpaint_pipeline)
    common: dict[str, Any] = {"dtype": dtype, "local_files_only": settings.offline}
    if found.kind != "file":
        return pipeline_class.from_pretrained(str(found.where), **common)
    # One transformer file: the denoiser from it, everything else from --model-config
    # (model_family.py made sure there is one, of the same family).
    assert isinstance(found.where, Path) and settings.model_config
    config = str(Path(settings.model_config).expanduser())
    denoiser_class = getattr(diffusers, family.denoiser)
    extra: dict[str, Any] = {}
    if found.where.suffix.lower() == GGUF:
        # The weights stay quantized in memory and are dequantized layer by layer to `dtype`.
        extra["quantization_config"] = diffusers.GGUFQuantizationConfig(compute_dtype=dtype)
    # The file's denoiser tensors alone, unprefixed (denoiser_file.py): diffusers converts
    # them from the original layout by the family's own converter.
    transformer = denoiser_class.from_single_file(denoiser_tensors(found.where), config=config,
                                                  subfolder="transformer", **common, **extra)
    return pipeline_class.from_pretrained(config, transformer=transformer, **common)


def _native(family: Family) -> int:
    """The family's training size, within the tiler's window limits."""
    low, high = WINDOW_LIMITS
    return min(high, max(low, family.native // 64 * 64))
