"""Is a file a LoRA, and for which family: from its tensor names and shapes (and the
trainer's metadata where the tensors leave it open).

LoRAs come in many spellings of the same thing. Kohya's (A1111, Forge, most of Civitai):
`lora_unet_<module with _>.lora_down.weight`, `lora_te_`, and `lora_te1_`/`lora_te2_` for
SDXL's two text encoders; diffusers' (and PEFT's): `unet.<module>.lora_A.weight`,
`transformer.`, `text_encoder.`, `text_encoder_2.`; ComfyUI's and ai-toolkit's:
`diffusion_model.<module>.lora_A.weight`; LyCORIS (LoHa, LoKr) under kohya's names. Keys
are compared with '.' read as '_', so one pattern matches every spelling.

    lora_family(shapes, metadata)     # "sdxl"
"""

from __future__ import annotations

import re
from typing import Mapping

from canvas.painters.diffusion.headers import Shapes

# Pieces of a key that only adapters have (LoRA, LoCon, LoHa, LoKr, old diffusers processors).
ADAPTER_MARKERS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", ".lora.down.", ".lora.up.", "_lora.down.",
                   "_lora.up.", ".hada_w1_", ".hada_w2_", ".lokr_w1", ".lokr_w2", ".lora_mid.")
ADAPTER_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_", "lora_te3_", "lora_transformer_")
# The down (in) half of a pair: its last dimension is the width of what the layer reads.
DOWN = re.compile(r"(lora_down|lora_A|lora\.down|_lora\.down|lora_down_weight)")

# Transformer families, by a module only their denoiser has (keys with '.' read as '_').
TRANSFORMER_SIGNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sd3", re.compile(r"joint_blocks_\d+_(context|x)_block")),
    ("flux2-klein", re.compile(r"(double|single)_stream_modulation|to_qkv_mlp_proj")),
    ("chroma", re.compile(r"distilled_guidance_layer")),
    ("qwen-image", re.compile(r"transformer_blocks_\d+_(img|txt)_(mlp|mod)")),
    ("z-image", re.compile(r"(noise|context)_refiner_\d+|(^|_)layers_\d+_(attention|feed_forward)_")),
    ("flux", re.compile(r"(double|single)_blocks_\d+_|single_transformer_blocks_\d+")),
)
# diffusers' joint-attention blocks (`transformer_blocks.N.attn.add_q_proj`) are FLUX's and
# SD 3's alike: the hidden width tells them apart (FLUX 3072; SD 3 1536, SD 3.5 Large 2432).
JOINT_BLOCK = re.compile(r"transformer_blocks_\d+_attn_(to_q|add_q_proj)")
SD_UNET = re.compile(r"(down_blocks|up_blocks|mid_block|input_blocks|output_blocks|middle_block)_\d*")
# Cross-attention keys: the width they read is the text encoder's (768 SD 1.x, 1024 SD 2.x, 2048 SDXL).
CROSS_ATTENTION = re.compile(r"attn2_(to_k|to_v)|attn2_processor_to_k")
SDXL_ONLY = re.compile(r"lora_te[12]_|text_encoder_2_|(^|_)up_blocks_0_attentions_")
SD1_ONLY = re.compile(r"(^|_)down_blocks_0_attentions_|(^|_)up_blocks_3_attentions_|input_blocks_[12]_1_|output_blocks_(9|10|11)_1_")
TEXT_WIDTH = re.compile(r"(lora_te_|text_encoder_).*(self_attn_q_proj|mlp_fc1)")

# What trainers write in the header's metadata (kohya's `ss_*`, the model spec's architecture).
METADATA_FAMILIES = (
    ("sdxl", ("sdxl", "stable-diffusion-xl")),
    ("sd2", ("sd_v2", "sd_2", "stable-diffusion-v2")),
    ("sd1", ("sd_v1", "sd_1", "stable-diffusion-v1")),
    ("sd3", ("sd3", "stable-diffusion-3")),
    ("flux-fill", ("flux-1-fill", "flux1-fill", "flux.1-fill")),
    ("flux2-klein", ("flux-2", "flux2", "flux.2")),
    ("flux", ("flux",)),
    ("chroma", ("chroma",)),
    ("qwen-image", ("qwen-image", "qwen_image")),
    ("z-image", ("z-image", "z_image", "zimage")),
)
FLUX_LIKE = ("flux", "flux-fill", "chroma", "flux2-klein")
SD_LIKE = ("sd1", "sd2", "sdxl")


def is_adapter(shapes: Shapes) -> bool:
    return any(key.startswith(ADAPTER_PREFIXES) or any(marker in key for marker in ADAPTER_MARKERS) for key in shapes)


def lora_family(shapes: Shapes, metadata: Mapping[str, str] | None = None) -> str | None:
    """The family a LoRA was trained for, or None when neither its tensors nor its metadata tell."""
    keys = {key.replace(".", "_"): shape for key, shape in shapes.items()}
    hinted = metadata_family(metadata or {})
    for key, pattern in TRANSFORMER_SIGNS:
        if any(pattern.search(name) for name in keys):
            # FLUX.1's blocks are also FLUX.1 Fill's and Chroma's: the trainer knows which.
            return hinted if key == "flux" and hinted in FLUX_LIKE else key
    joint = [shape for name, shape in keys.items() if JOINT_BLOCK.search(name) and DOWN.search(name)]
    if joint:
        return "flux" if joint[0][-1] == 3072 else "sd3"
    if any(SD_UNET.search(name) for name in keys) or any(name.startswith(("lora_te", "text_encoder")) for name in keys):
        return _sd_family(keys, hinted)
    return hinted


def _sd_family(keys: Mapping[str, tuple[int, ...]], hinted: str | None) -> str:
    """SD 1.x, 2.x or XL, from the surest sign to the weakest: the width the cross-attention
    reads (the text encoder's), SDXL's second text encoder, the first text encoder's width,
    the UNet's block layout (SDXL's first level has no attention, SD 1.x's last none), the
    trainer's metadata; SD 1.x when nothing says otherwise, as the painter's table reads a
    checkpoint of an unusual width."""
    widths = {2048: "sdxl", 1024: "sd2", 768: "sd1"}
    for name, shape in keys.items():
        if CROSS_ATTENTION.search(name) and DOWN.search(name) and shape and shape[-1] in widths:
            return widths[shape[-1]]
    if any(SDXL_ONLY.search(name) for name in keys):
        return "sdxl"
    for name, shape in keys.items():
        if TEXT_WIDTH.search(name) and DOWN.search(name) and shape and shape[-1] in (768, 1024):
            return widths[shape[-1]]
    if any(SD1_ONLY.search(name) for name in keys):
        return hinted if hinted in ("sd1", "sd2") else "sd1"
    if any(name.startswith(("lora_unet_input_blocks", "lora_unet_output_blocks")) for name in keys):
        return "sdxl"  # kohya names SDXL's UNet modules the original way, SD 1.x's the diffusers way
    return hinted if hinted in SD_LIKE else "sd1"


def metadata_family(metadata: Mapping[str, str]) -> str | None:
    """The family kohya's `ss_base_model_version`/`ss_v2` or `modelspec.architecture` name."""
    if str(metadata.get("ss_v2", "")).lower() == "true":
        return "sd2"
    for field in ("modelspec.architecture", "ss_base_model_version"):
        value = str(metadata.get(field, "")).lower()
        if not value:
            continue
        for key, words in METADATA_FAMILIES:
            if any(word in value for word in words):
                return key
    return None
