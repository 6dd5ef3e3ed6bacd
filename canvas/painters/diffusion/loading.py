"""Find and load a Stable Diffusion model once: a hub id, a diffusers folder, or one file.

    model = load_model(DiffusionSettings(model="./sd15-inpaint.safetensors", model_config="./sd15-config", offline=True))
    model.kind, model.native  # ("sd-inpainting", 512)

Every failure is a `ModelError` with one line for the user, raised here at start-up rather
than as a traceback at the first job.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from canvas.painters.diffusion.controlnet import load_controlnet, with_controlnet
from canvas.painters.diffusion.hashes import FileHash
from canvas.painters.diffusion.settings import DiffusionSettings, ModelError

log = logging.getLogger(__name__)

SINGLE_FILES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf")  # .gguf: a transformer (pipelines.py)
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# Keys only an SDXL file has (its second, OpenCLIP text encoder).
XL_KEY = "conditioner.embedders.1."


@dataclass
class LoadedModel:
    pipeline: Any  # StableDiffusion(XL)InpaintPipeline, or StableDiffusion(XL)ControlNetInpaintPipeline
    xl: bool
    inpainting: bool  # a 9-channel UNet (mask and masked image as extra input)
    native: int  # px a side the model was trained at: the default window
    device: torch.device
    dtype: torch.dtype
    vae_dtype: torch.dtype  # fp32 where the VAE overflows in fp16 (SDXL's)
    controlnet: Any = None  # a ControlNetModel steering every step (controlnet.py), or None
    file_hash: FileHash | None = None  # of a single checkpoint file (hashes.py)

    @property
    def hash(self) -> str | None:
        """A1111's short hash of the checkpoint file (waits for it if it is still being read)."""
        return self.file_hash.value() if self.file_hash else None

    @property
    def kind(self) -> str:
        return ("sdxl" if self.xl else "sd") + ("-inpainting" if self.inpainting else "")


def load_model(settings: DiffusionSettings) -> LoadedModel:
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    kind, where = locate(settings.model)
    file_hash = FileHash(Path(where)) if kind == "file" else None  # read beside the load, not after it
    with _quiet():
        pipeline = _load_pipeline(settings, dtype)
        if settings.vae:
            pipeline.vae = _load_vae(settings.vae, settings.offline, dtype)
        if settings.controlnet:
            pipeline = with_controlnet(pipeline, load_controlnet(settings, pipeline.unet, dtype))
    model = prepare(pipeline, settings)
    model.file_hash = file_hash
    return model


def prepare(pipeline: Any, settings: DiffusionSettings) -> LoadedModel:
    """A pipeline in memory (loaded above, or built in code) checked and made ready to paint
    on the settings' device and dtype."""
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    unet = pipeline.unet
    if unet.config.in_channels not in (4, 9) or getattr(pipeline, "text_encoder", None) is None:
        raise ModelError(f"{settings.model}: not a Stable Diffusion text-to-image or inpainting model "
                         f"(UNet in_channels {unet.config.in_channels})")
    xl = getattr(pipeline, "text_encoder_2", None) is not None
    vae_dtype = torch.float32 if dtype == torch.float16 and getattr(pipeline.vae.config, "force_upcast", False) else dtype
    with _quiet():  # diffusers advises loading in the dtype; a pipeline built in code cannot
        pipeline.to(device=device, dtype=dtype)
        if pipeline.vae.dtype != vae_dtype:
            pipeline.vae.to(dtype=vae_dtype)
    for_inference(pipeline)
    _configure(pipeline, settings, device)
    native = int(unet.config.sample_size) * pipeline.vae_scale_factor
    return LoadedModel(
        pipeline=pipeline,
        xl=xl,
        inpainting=unet.config.in_channels == 9,
        native=min(1024, max(512, native // 64 * 64)),  # the tiler's window limits
        device=device,
        dtype=dtype,
        vae_dtype=vae_dtype,
        controlnet=getattr(pipeline, "controlnet", None),
    )


def for_inference(pipeline: Any) -> None:
    """Every module of the pipeline in eval mode, as from_pretrained leaves them. One built
    in code is in training mode: its dropout (T5's 0.1) would change each window with the
    global random generator, and a model so built would paint unlike the same one saved."""
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda: no CUDA GPU is available to this PyTorch build")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ModelError("--device mps: Apple's Metal backend is not available here")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on CUDA, bf16 on a CPU with native bf16 maths, fp32 otherwise."""
    if name == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else torch.float32
    if name == "fp16" and device.type == "cpu":
        raise ModelError("--dtype fp16 needs a GPU; on a CPU use bf16 or fp32")
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[name]


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels here (AVX512-BF16 or AMX); emulated bf16 is slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # an unusual build: play safe
        return False


def _load_pipeline(settings: DiffusionSettings, dtype: torch.dtype) -> Any:
    kind, where = locate(settings.model)
    common: dict[str, Any] = {"dtype": dtype, "local_files_only": settings.offline}
    try:
        if kind == "file":
            xl = _file_is_xl(where, settings.model_config)
            cls = _pipeline_class(xl)
            if settings.model_config is None and settings.offline:
                raise ModelError(f"{settings.model}: a single file needs --model-config DIR offline "
                                 "(a diffusers folder of the same kind of model, for its configs and tokenizer)")
            config = _config_folder(settings.model_config) if settings.model_config else None
            return cls.from_single_file(str(where), config=config, **common, **_extras(xl))
        index = _model_index(where, settings)
        xl = "XL" in str(index.get("_class_name", ""))
        return _pipeline_class(xl).from_pretrained(str(where), **common, **_extras(xl))
    except ModelError:
        raise
    except Exception as exc:  # diffusers, transformers and huggingface_hub raise many kinds
        raise ModelError(f"cannot load {settings.model}: {first_line(exc)}") from exc


def locate(model: str, what: str = "") -> tuple[str, Path | str]:
    """("file" | "folder", path) or ("hub", repo id); a path that does not exist is an error.
    `what` names the option in messages ("--controlnet")."""
    named = f"{what} {model}" if what else model
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() not in SINGLE_FILES:
            raise ModelError(f"{named}: expected a .safetensors, .gguf or .ckpt file, or a diffusers folder")
        return "file", path
    if path.is_dir():
        return "folder", path
    # "owner/name" is a hub id; anything else that is not on disk is a mistyped path.
    if not HUB_ID.match(model) or model.startswith((".", "~")) or model.lower().endswith(SINGLE_FILES):
        raise ModelError(f"{named}: no such file or folder (and not a hub id like owner/name)")
    return "hub", model


def _model_index(where: Path | str, settings: DiffusionSettings) -> dict[str, Any]:
    from diffusers import DiffusionPipeline

    if isinstance(where, Path) and not (where / "model_index.json").is_file():
        raise ModelError(f"{settings.model}: not a diffusers folder (no model_index.json); "
                         "for one checkpoint file give the file itself")
    try:
        return dict(DiffusionPipeline.load_config(str(where), local_files_only=settings.offline))
    except Exception as exc:
        if settings.offline:
            raise ModelError(f"{settings.model}: no such file or folder, and not in the local Hugging Face cache "
                             "(--offline): download it once with a network, or give a local folder or file") from exc
        raise ModelError(f"{settings.model}: cannot fetch it from the hub: {first_line(exc)}") from exc


def _file_is_xl(path: Path, model_config: str | None) -> bool:
    """SDXL or SD 1.x/2.x, from the file's keys (a safetensors header is cheap to read)."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as opened:
                return any(key.startswith(XL_KEY) for key in opened.keys())
        except Exception as exc:
            raise ModelError(f"{path}: not a readable .safetensors file: {first_line(exc)}") from exc
    if model_config:
        index = Path(model_config).expanduser() / "model_index.json"
        if index.is_file():
            return "XL" in json.loads(index.read_text()).get("_class_name", "")
    try:
        state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: not a readable checkpoint: {first_line(exc)}") from exc
    state = state.get("state_dict", state)
    return any(key.startswith(XL_KEY) for key in state)


def _config_folder(model_config: str) -> str:
    folder = Path(model_config).expanduser()
    if not (folder / "model_index.json").is_file():
        raise ModelError(f"--model-config {model_config}: not a diffusers config folder (no model_index.json)")
    return str(folder)


def _pipeline_class(xl: bool) -> Any:
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline

    # The inpainting pipelines take 9-channel and plain 4-channel UNets alike.
    return StableDiffusionXLInpaintPipeline if xl else StableDiffusionInpaintPipeline


def _extras(xl: bool) -> dict[str, Any]:
    # The tiler composites; a safety checker would black out whole windows, a watermark
    # would stamp every one.
    return {"add_watermarker": False} if xl else {"safety_checker": None, "requires_safety_checker": False}


def _load_vae(name: str, offline: bool, dtype: torch.dtype) -> Any:
    """A separate VAE (AutoencoderKL or AutoencoderTiny), from a folder or a hub id."""
    from diffusers import AutoModel

    kind, where = locate(name)
    if kind == "file":
        raise ModelError(f"--vae {name}: give a diffusers VAE folder or hub id (with its config.json), not one file")
    try:
        return AutoModel.from_pretrained(str(where), dtype=dtype, local_files_only=offline)
    except Exception as exc:
        raise ModelError(f"cannot load the VAE {name}: {first_line(exc)}") from exc


def _configure(pipeline: Any, settings: DiffusionSettings, device: torch.device) -> None:
    """Attention and memory settings. diffusers uses PyTorch's SDPA by default; xformers,
    when installed, is faster on CUDA."""
    if device.type == "cuda" and importlib.util.find_spec("xformers") is not None:
        try:
            pipeline.enable_xformers_memory_efficient_attention()
        except Exception as exc:  # a wheel built for another torch: SDPA is fine
            log.warning("xformers is installed but unusable (%s); using PyTorch SDPA", first_line(exc))
    if settings.attention_slicing:
        pipeline.enable_attention_slicing()
    if settings.vae_tiling:
        pipeline.vae.enable_tiling()
    pipeline.set_progress_bar_config(disable=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No loading bars or advice from diffusers and transformers: our errors say what matters."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    libraries = (diffusers_logging, transformers_logging)
    levels = [library.get_verbosity() for library in libraries]
    for library in libraries:
        library.set_verbosity_error()
        library.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation notes meant for library authors
            yield
    finally:
        for library, level in zip(libraries, levels):
            library.set_verbosity(level)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
