"""Tiny LoRAs for the tiny pipelines (tiny_models.py), made with peft: random, so a LoRA
visibly changes the pictures; saved as diffusers saves them, or written as kohya's
trainers (A1111, Civitai) write them.

    save_diffusers_lora(tiny.folder("sd-inpaint"), tmp_path / "ink.safetensors")
    save_kohya_lora(tiny.folder("sd-inpaint"), tmp_path / "ink-kohya.safetensors")
"""

from __future__ import annotations

from pathlib import Path

import torch

ATTENTION = ["to_k", "to_q", "to_v", "to_out.0"]
TEXT_ATTENTION = ["q_proj", "k_proj", "v_proj", "out_proj"]
RANK, ALPHA = 4, 8  # peft's default alpha: a scale of 2


def _adapted(folder: Path, seed: int, text: bool) -> tuple[dict, dict]:
    """peft state dicts of a random LoRA on the UNet (and the first text encoder)."""
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    unet.add_adapter(LoraConfig(r=RANK, lora_alpha=ALPHA, init_lora_weights=False, target_modules=ATTENTION))
    unet_state = get_peft_model_state_dict(unet)
    text_state: dict = {}
    if text:
        encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")
        encoder.add_adapter(LoraConfig(r=RANK, lora_alpha=ALPHA, init_lora_weights=False, target_modules=TEXT_ATTENTION))
        text_state = get_peft_model_state_dict(encoder)
    # Big enough that a tiny model's pictures change for sure.
    return ({k: v * 4 for k, v in unet_state.items()}, {k: v * 4 for k, v in text_state.items()})


def save_diffusers_lora(folder: Path, path: Path, seed: int = 1, text: bool = True) -> Path:
    """A LoRA as diffusers' `save_lora_weights` writes it (`unet.` and `text_encoder.` keys)."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    unet_state, text_state = _adapted(folder, seed, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    xl = (folder / "text_encoder_2").is_dir()
    saver = StableDiffusionXLPipeline if xl else StableDiffusionPipeline
    saver.save_lora_weights(path.parent, unet_lora_layers=unet_state, text_encoder_lora_layers=text_state or None,
                            weight_name=path.name)
    return path


def save_kohya_lora(folder: Path, path: Path, seed: int = 2) -> Path:
    """A UNet LoRA in kohya's format: `lora_unet_<module with _>.lora_down.weight`,
    `.lora_up.weight` and `.alpha` (SD 1.x modules are named as diffusers names them)."""
    from safetensors.torch import save_file

    unet_state, _ = _adapted(folder, seed, text=False)
    state = {}
    for key, value in unet_state.items():
        module, _, part = key.rpartition(".lora_")
        name = "lora_unet_" + module.replace(".", "_")
        state[f"{name}.lora_{'down' if part.startswith('A') else 'up'}.weight"] = value.contiguous()
        state[f"{name}.alpha"] = torch.tensor(float(ALPHA))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"ss_network_module": "networks.lora", "ss_network_dim": str(RANK)})
    return path


def save_flux_lora(folder: Path, path: Path, seed: int = 3) -> Path:
    """A LoRA on a tiny FLUX.1 (Fill) transformer's attention, as diffusers saves FLUX LoRAs
    (`transformer.` keys): the kind FLUX.1 dev LoRAs are, which FLUX.1 Fill takes too."""
    from diffusers import FluxPipeline, FluxTransformer2DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel.from_pretrained(folder, subfolder="transformer")
    transformer.add_adapter(LoraConfig(r=RANK, lora_alpha=ALPHA, init_lora_weights=False,
                                       target_modules=["to_q", "to_k", "to_v"]))
    state = {k: v * 4 for k, v in get_peft_model_state_dict(transformer).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    FluxPipeline.save_lora_weights(path.parent, transformer_lora_layers=state, weight_name=path.name)
    return path
