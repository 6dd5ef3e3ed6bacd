"""ControlNet inpainting: a ControlNet sees each window's known pixels, the masked ones marked.

    controlnet = load_controlnet(settings, pipeline.unet, torch.float32)   # checked against the UNet
    pipeline = with_controlnet(pipeline, controlnet)     # StableDiffusion(XL)ControlNetInpaintPipeline
    control = Control.of(model, window, guided, scale=1.0)
    noise_pred = unet(model_input, t, ..., **control.residuals(model_input, t, text.embeds, added, timestep_cond))

The control image is the window as the SD 1.5 inpaint ControlNet (lllyasviel's
control_v11p_sd15_inpaint) was trained on it and as diffusers' examples build it
(`make_inpaint_condition`): known pixels in [0, 1], masked pixels -1. The ControlNet
pipelines pass a control image through without normalising it (`do_normalize=False`),
so SDXL ControlNets get the same picture. The denoising loop stays `denoise.inpaint`'s:
the ControlNet adds its residuals to the UNet's, and prefill, masks and seams are the
painter's as without one.

A ControlNet comes from a diffusers folder (config.json of a `ControlNetModel`), a hub id
(the Hugging Face cache only with --offline), or one file (diffusers or original layout),
whose configuration is the base UNet's: a ControlNet is a copy of its UNet's encoder.
"""

from __future__ import annotations

import inspect
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from canvas.painters.diffusion.settings import DiffusionSettings, ModelError

# Keys that only a ControlNet file has: its conditioning embedding (the "hint" block),
# in diffusers' layout and in the original one (ControlNet v1.1, A1111 and ComfyUI files).
CONTROLNET_KEYS = ("controlnet_cond_embedding.conv_in.weight", "input_hint_block.0.weight")
ORIGINAL_PREFIX = "control_model."  # original files saved with the whole model around them
MASKED = -1.0  # the control image's value for pixels to paint


@dataclass(frozen=True)
class Base:
    """What a ControlNet must share with the UNet it steers."""

    xl: bool  # SDXL's added text-and-time conditioning
    cross_attention: int  # the text encoder's width: 768 SD 1.x, 1024 SD 2.x, 2048 SDXL

    def __str__(self) -> str:
        family = "SDXL" if self.xl else {768: "SD 1.x", 1024: "SD 2.x"}.get(self.cross_attention, "SD")
        return f"{family} (cross-attention {self.cross_attention})"


def base_of_unet(config: Any) -> Base:
    return Base(xl=config.get("addition_embed_type") == "text_time", cross_attention=_width(config["cross_attention_dim"]))


def load_controlnet(settings: DiffusionSettings, unet: Any, dtype: torch.dtype) -> Any:
    """`settings.controlnet` loaded as a `ControlNetModel` that fits `unet`, or a ModelError."""
    from canvas.painters.diffusion.loading import first_line, locate  # here: loading imports this module

    name = str(settings.controlnet)
    kind, where = locate(name, what="--controlnet")
    wanted = base_of_unet(unet.config)
    try:
        if kind == "file":
            controlnet = _from_file(Path(where), name, unet.config, wanted, dtype)
        else:
            controlnet = _from_folder(where, name, settings, wanted, dtype)
    except ModelError:
        raise
    except Exception as exc:  # diffusers, safetensors and huggingface_hub raise many kinds
        raise ModelError(f"cannot load the ControlNet {name}: {first_line(exc)}") from exc
    if controlnet.config.in_channels != 4:  # it gets the latents, never an inpainting UNet's mask channels
        raise ModelError(f"--controlnet {name}: takes {controlnet.config.in_channels} latent channels, "
                         "expected 4 (a ControlNet made from an inpainting UNet is not one diffusers can run)")
    return controlnet


def with_controlnet(pipeline: Any, controlnet: Any) -> Any:
    """The same components in diffusers' ControlNet inpainting pipeline of the same family."""
    from diffusers import StableDiffusionControlNetInpaintPipeline, StableDiffusionXLControlNetInpaintPipeline

    xl = getattr(pipeline, "text_encoder_2", None) is not None
    cls = StableDiffusionXLControlNetInpaintPipeline if xl else StableDiffusionControlNetInpaintPipeline
    return cls.from_pipe(pipeline, controlnet=controlnet)


@dataclass
class Control:
    """One window's control image and scale, ready for every step."""

    controlnet: Any
    image: torch.Tensor  # (rows, 3, H, W): [0, 1] known, MASKED where the model paints
    scale: float

    @classmethod
    def of(cls, controlnet: Any, pixels: torch.Tensor, mask: torch.Tensor, rows: int, scale: float,
           dtype: torch.dtype) -> "Control":
        """`pixels` (1, 3, H, W) in [-1, 1], `mask` (1, 1, H, W) 1.0 where the model paints;
        `rows`: the UNet's batch (2 with classifier-free guidance)."""
        image = torch.where(mask > 0.5, torch.full_like(pixels, MASKED), (pixels + 1) / 2)
        return cls(controlnet, image.repeat(rows, 1, 1, 1).to(dtype), scale)

    def residuals(self, sample: torch.Tensor, t: torch.Tensor, embeds: torch.Tensor, added: dict | None,
                  timestep_cond: torch.Tensor | None) -> dict[str, Any]:
        """The UNet's extra inputs for this step: the ControlNet's residuals, scaled.
        `sample`: the 4-channel latents as the UNet gets them (without an inpainting
        UNet's mask channels, which no ControlNet takes)."""
        down, mid = self.controlnet(
            sample, t, encoder_hidden_states=embeds, controlnet_cond=self.image, conditioning_scale=self.scale,
            timestep_cond=timestep_cond, added_cond_kwargs=added, return_dict=False,
        )
        return {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}


def _from_folder(where: Path | str, name: str, settings: DiffusionSettings, wanted: Base, dtype: torch.dtype) -> Any:
    from diffusers import ControlNetModel

    if isinstance(where, Path) and not (where / "config.json").is_file():
        raise ModelError(f"--controlnet {name}: not a diffusers ControlNet folder (no config.json); "
                         "for one checkpoint file give the file itself")
    try:
        config = dict(ControlNetModel.load_config(str(where), local_files_only=settings.offline))
    except Exception as exc:
        if settings.offline:
            raise ModelError(f"--controlnet {name}: no such file or folder, and not in the local Hugging Face cache "
                             "(--offline): download it once with a network, or give a local folder or file") from exc
        raise ModelError(f"--controlnet {name}: cannot fetch it from the hub: {exc}") from exc
    if config.get("_class_name") != "ControlNetModel":
        raise ModelError(f"--controlnet {name}: not a ControlNet (its config.json is a {config.get('_class_name')!r}, "
                         "expected 'ControlNetModel')")
    _check_base(Base(xl=config.get("addition_embed_type") == "text_time",
                     cross_attention=_width(config.get("cross_attention_dim", 0))), wanted, name)
    return ControlNetModel.from_pretrained(str(where), dtype=dtype, local_files_only=settings.offline)


def _from_file(path: Path, name: str, unet_config: Any, wanted: Base, dtype: torch.dtype) -> Any:
    """One file: its kind read from the shapes of its tensors (no weights loaded), its
    configuration made from the base UNet's, so it loads offline without a config folder."""
    from diffusers import ControlNetModel

    shapes = _shapes(path)
    keys = {key.removeprefix(ORIGINAL_PREFIX): shape for key, shape in shapes.items()}
    if not any(key in keys for key in CONTROLNET_KEYS):
        raise ModelError(f"--controlnet {name}: not a ControlNet file (it has no conditioning embedding, "
                         f"{' or '.join(CONTROLNET_KEYS)})")
    cross = next((shape[1] for key, shape in keys.items() if key.endswith("attn2.to_k.weight")), 0)
    xl = "add_embedding.linear_1.weight" in keys or "label_emb.0.0.weight" in keys
    _check_base(Base(xl=xl, cross_attention=cross), wanted, name)
    with tempfile.TemporaryDirectory() as folder:
        config = _config_from_unet(unet_config, keys)
        (Path(folder) / "config.json").write_text(json.dumps(config))
        return ControlNetModel.from_single_file(str(path), config=folder, local_files_only=True, dtype=dtype)


def _check_base(found: Base, wanted: Base, name: str) -> None:
    if found != wanted:
        raise ModelError(f"--controlnet {name}: a ControlNet for {found}, but the model is {wanted}: "
                         "give a ControlNet trained for the model's family")


def _config_from_unet(unet_config: Any, keys: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """A ControlNet's configuration is its UNet's (diffusers' `ControlNetModel.from_unet`),
    with the file's own input channels and conditioning-embedding widths."""
    from diffusers import ControlNetModel

    accepted = set(inspect.signature(ControlNetModel.__init__).parameters) - {"self"}
    config = {key: value for key, value in dict(unet_config).items() if key in accepted}
    conv_in = keys.get("conv_in.weight") or keys.get("input_blocks.0.0.weight")
    if conv_in:
        config["in_channels"] = conv_in[1]
    config["conditioning_embedding_out_channels"] = _hint_widths(keys)
    config["_class_name"] = "ControlNetModel"
    return config


def _hint_widths(keys: dict[str, tuple[int, ...]]) -> list[int]:
    """The conditioning embedding's widths: its first convolution's, then every second one's
    (the ones that double the width and halve the size)."""
    if "controlnet_cond_embedding.conv_in.weight" in keys:  # diffusers: conv_in, blocks.0 .. blocks.2n-1, conv_out
        widths = [keys["controlnet_cond_embedding.conv_in.weight"][0]]
        i = 1
        while f"controlnet_cond_embedding.blocks.{i}.weight" in keys:
            widths.append(keys[f"controlnet_cond_embedding.blocks.{i}.weight"][0])
            i += 2
        return widths
    # original: input_hint_block.0, .2, ... convolutions with SiLUs between, the last one out
    convs = sorted((int(key.split(".")[1]), shape) for key, shape in keys.items()
                   if key.startswith("input_hint_block.") and key.endswith(".weight"))
    return [shape[0] for index, (_, shape) in enumerate(convs[:-1]) if index % 2 == 0]


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from canvas.painters.diffusion.loading import first_line

    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as opened:
                return {key: tuple(opened.get_slice(key).get_shape()) for key in opened.keys()}
        state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
        state = state.get("state_dict", state)
        return {key: tuple(value.shape) for key, value in state.items() if isinstance(value, torch.Tensor)}
    except Exception as exc:
        raise ModelError(f"--controlnet {path}: not a readable checkpoint: {first_line(exc)}") from exc


def _width(value: int | Iterable[int]) -> int:
    """cross_attention_dim is one number, or one per block (all the same in SD and SDXL)."""
    return int(value) if isinstance(value, int) else int(next(iter(value), 0))
