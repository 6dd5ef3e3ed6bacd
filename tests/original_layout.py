"""The tiny transformers (tiny_families.py) written as the files people download: the
ORIGINAL layouts of BFL, Alibaba and Stability, not diffusers' names.

Each `to_original` is the exact inverse of the converter diffusers 0.42 applies when
`from_single_file` meets that layout (diffusers/loaders/single_file_utils.py):
`convert_flux_transformer_checkpoint_to_diffusers` (FLUX.1 and FLUX.1 Fill),
`convert_chroma_...`, `convert_flux2_...`, `convert_z_image_...`, `convert_sd3_...`;
Qwen-Image's files (Alibaba's, ComfyUI's, city96's GGUFs) keep diffusers' names, and its
mapping is the identity. A test checks that converting back gives every tensor bit for bit.

    tensors = to_original("flux-fill", transformer.state_dict())   # {"double_blocks.0.img_attn.qkv.weight": ...}
    write_original(folder, tmp_path / "flux1-fill-dev.safetensors", "flux-fill", form="comfyui")
    write_original_gguf(folder, tmp_path / "flux1-fill-dev-Q8_0.gguf", "flux-fill", "Q8_0")

Forms: "bfl" is the file as its makers publish it (BFL's flux1-fill-dev.safetensors,
Comfy-Org's z_image_turbo_bf16.safetensors, a ComfyUI `diffusion_models` file); "comfyui"
is an all-in-one checkpoint as ComfyUI saves one and Stability ships SD 3.5: the denoiser
under `model.diffusion_model.`, the text encoders and VAE beside it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable, Iterator

import torch

from tiny_families import GGUF_QUANTS, gguf_types, write_gguf_tensors

PREFIX = "model.diffusion_model."
FORMS = ("bfl", "comfyui")
# What an all-in-one checkpoint keeps beside the denoiser (a tensor of each part: the
# painter must leave them alone, and the library must call the file a checkpoint).
BESIDE = {"text_encoders.clip_l.transformer.text_model.final_layer_norm.weight": (8,),
          "first_stage_model.decoder.conv_in.weight": (8, 4, 3, 3)}
# ComfyUI-GGUF's `general.architecture` of each family (canvas/library/content.py reads it back).
GGUF_ARCHITECTURES = {"flux": "flux", "flux-fill": "flux", "chroma": "chroma", "sd3": "sd3", "flux2-klein": "flux2",
                      "z-image": "lumina2", "qwen-image": "qwen_image"}
# The widths diffusers' FLUX.1 and Chroma converters assume (every published FLUX.1 and
# Chroma is 3072 wide, its MLP 4x): they split a single block's fused projection by them.
CONVERTER_WIDTH, CONVERTER_MLP = 3072, 4 * 3072

Tensors = dict[str, torch.Tensor]


def _move(out: Tensors, sd: Tensors, names: dict[str, str]) -> None:
    """out[original.weight|bias] = sd[diffusers.weight|bias], for every name pair present (BFL's
    query and key norms keep their weight as `scale`)."""
    for original, ours in names.items():
        for part in ("weight", "bias"):
            if f"{ours}.{part}" in sd:
                out[f"{original}.{part}" if not original.endswith("_norm") else f"{original}.scale"] = sd[f"{ours}.{part}"]


def _fuse(out: Tensors, sd: Tensors, original: str, parts: list[str]) -> None:
    """One fused projection (q, k, v[, mlp] stacked by rows) from diffusers' separate ones."""
    for part in ("weight", "bias"):
        if f"{parts[0]}.{part}" in sd:
            out[f"{original}.{part}"] = torch.cat([sd[f"{p}.{part}"] for p in parts])


def swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    """(shift, scale) <-> (scale, shift): the original final norms' order against diffusers'."""
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first])


def _blocks(sd: Tensors, prefix: str) -> list[int]:
    return sorted({int(name[len(prefix):].split(".")[0]) for name in sd if name.startswith(prefix)})


# Within a BFL double block (FLUX.1, Chroma, FLUX.2): original name -> diffusers' name.
BFL_ATTENTION = {"img_attn.norm.query_norm": "attn.norm_q", "img_attn.norm.key_norm": "attn.norm_k",
                 "txt_attn.norm.query_norm": "attn.norm_added_q", "txt_attn.norm.key_norm": "attn.norm_added_k",
                 "img_attn.proj": "attn.to_out.0", "txt_attn.proj": "attn.to_add_out"}


def _double_blocks(out: Tensors, sd: Tensors, names: dict[str, str]) -> None:
    """BFL's double blocks: q, k, v fused per stream; attention as BFL_ATTENTION, the rest as `names`."""
    for i in _blocks(sd, "transformer_blocks."):
        ours, theirs = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        _fuse(out, sd, theirs + "img_attn.qkv", [ours + f"attn.to_{x}" for x in "qkv"])
        _fuse(out, sd, theirs + "txt_attn.qkv", [ours + f"attn.add_{x}_proj" for x in "qkv"])
        _move(out, sd, {theirs + name: ours + mine for name, mine in {**BFL_ATTENTION, **names}.items()})


def _flux1(sd: Tensors) -> Tensors:
    """FLUX.1 (dev, schnell, Fill) in BFL's layout; Chroma's blocks are these without modulation."""
    out: Tensors = {}
    _move(out, sd, {"time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
                    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
                    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
                    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
                    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
                    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
                    "txt_in": "context_embedder", "img_in": "x_embedder", "final_layer.linear": "proj_out"})
    for part in ("weight", "bias"):
        if f"norm_out.linear.{part}" in sd:
            out[f"final_layer.adaLN_modulation.1.{part}"] = swap_halves(sd[f"norm_out.linear.{part}"])
    _double_blocks(out, sd, {"img_mod.lin": "norm1.linear", "txt_mod.lin": "norm1_context.linear",
                             "img_mlp.0": "ff.net.0.proj", "img_mlp.2": "ff.net.2",
                             "txt_mlp.0": "ff_context.net.0.proj", "txt_mlp.2": "ff_context.net.2"})
    for i in _blocks(sd, "single_transformer_blocks."):
        ours, theirs = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        _fuse(out, sd, theirs + "linear1", [ours + "attn.to_q", ours + "attn.to_k", ours + "attn.to_v", ours + "proj_mlp"])
        _move(out, sd, {theirs + "modulation.lin": ours + "norm.linear", theirs + "norm.query_norm": ours + "attn.norm_q",
                        theirs + "norm.key_norm": ours + "attn.norm_k", theirs + "linear2": ours + "proj_out"})
    return out


def _chroma(sd: Tensors) -> Tensors:
    """Chroma in lodestones' layout: FLUX.1's blocks, modulations from a small network."""
    out = _flux1({name: value for name, value in sd.items() if not name.startswith("distilled_guidance_layer.")})
    layer = "distilled_guidance_layer."
    _move(out, sd, {layer + "in_proj": layer + "in_proj", layer + "out_proj": layer + "out_proj"})
    for i in _blocks(sd, layer + "layers."):
        _move(out, sd, {f"{layer}layers.{i}.in_layer": f"{layer}layers.{i}.linear_1",
                        f"{layer}layers.{i}.out_layer": f"{layer}layers.{i}.linear_2"})
        out[f"{layer}norms.{i}.scale"] = sd[f"{layer}norms.{i}.weight"]
    return out


def _sd3(sd: Tensors) -> Tensors:
    """SD 3.x in Stability's (MMDiT) layout."""
    out: Tensors = {"pos_embed": sd["pos_embed.pos_embed"]}
    _move(out, sd, {"x_embedder.proj": "pos_embed.proj", "t_embedder.mlp.0": "time_text_embed.timestep_embedder.linear_1",
                    "t_embedder.mlp.2": "time_text_embed.timestep_embedder.linear_2",
                    "y_embedder.mlp.0": "time_text_embed.text_embedder.linear_1",
                    "y_embedder.mlp.2": "time_text_embed.text_embedder.linear_2",
                    "context_embedder": "context_embedder", "final_layer.linear": "proj_out"})
    for part in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{part}"] = swap_halves(sd[f"norm_out.linear.{part}"])
    layers = _blocks(sd, "transformer_blocks.")
    for i in layers:
        ours, x, context = f"transformer_blocks.{i}.", f"joint_blocks.{i}.x_block.", f"joint_blocks.{i}.context_block."
        _fuse(out, sd, x + "attn.qkv", [ours + f"attn.to_{n}" for n in "qkv"])
        _fuse(out, sd, context + "attn.qkv", [ours + f"attn.add_{n}_proj" for n in "qkv"])
        _fuse(out, sd, x + "attn2.qkv", [ours + f"attn2.to_{n}" for n in "qkv"])
        _move(out, sd, {x + "attn.ln_q": ours + "attn.norm_q", x + "attn.ln_k": ours + "attn.norm_k",
                        context + "attn.ln_q": ours + "attn.norm_added_q", context + "attn.ln_k": ours + "attn.norm_added_k",
                        x + "attn2.ln_q": ours + "attn2.norm_q", x + "attn2.ln_k": ours + "attn2.norm_k",
                        x + "attn.proj": ours + "attn.to_out.0", context + "attn.proj": ours + "attn.to_add_out",
                        x + "attn2.proj": ours + "attn2.to_out.0", x + "adaLN_modulation.1": ours + "norm1.linear",
                        x + "mlp.fc1": ours + "ff.net.0.proj", x + "mlp.fc2": ours + "ff.net.2",
                        context + "mlp.fc1": ours + "ff_context.net.0.proj", context + "mlp.fc2": ours + "ff_context.net.2"})
        # the last context block only conditions (pre-only): its norm is a final norm, (shift, scale)
        last = i == layers[-1]
        for part in ("weight", "bias"):
            value = sd[ours + f"norm1_context.linear.{part}"]
            out[context + f"adaLN_modulation.1.{part}"] = swap_halves(value) if last else value
    return out


def _flux2(sd: Tensors) -> Tensors:
    """FLUX.2 (Klein) in BFL's layout: no biases, shared modulations, fused single blocks."""
    out: Tensors = {}
    _move(out, sd, {"img_in": "x_embedder", "txt_in": "context_embedder",
                    "time_in.in_layer": "time_guidance_embed.timestep_embedder.linear_1",
                    "time_in.out_layer": "time_guidance_embed.timestep_embedder.linear_2",
                    "guidance_in.in_layer": "time_guidance_embed.guidance_embedder.linear_1",
                    "guidance_in.out_layer": "time_guidance_embed.guidance_embedder.linear_2",
                    "double_stream_modulation_img.lin": "double_stream_modulation_img.linear",
                    "double_stream_modulation_txt.lin": "double_stream_modulation_txt.linear",
                    "single_stream_modulation.lin": "single_stream_modulation.linear", "final_layer.linear": "proj_out"})
    out["final_layer.adaLN_modulation.1.weight"] = swap_halves(sd["norm_out.linear.weight"])
    _double_blocks(out, sd, {"img_mlp.0": "ff.linear_in", "img_mlp.2": "ff.linear_out",
                             "txt_mlp.0": "ff_context.linear_in", "txt_mlp.2": "ff_context.linear_out"})
    for i in _blocks(sd, "single_transformer_blocks."):
        ours, theirs = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        _move(out, sd, {theirs + "linear1": ours + "attn.to_qkv_mlp_proj", theirs + "linear2": ours + "attn.to_out",
                        theirs + "norm.query_norm": ours + "attn.norm_q", theirs + "norm.key_norm": ours + "attn.norm_k"})
    return out


def _z_image(sd: Tensors) -> Tensors:
    """Z-Image in Alibaba's (NextDiT) layout, as Comfy-Org's z_image_turbo_bf16.safetensors."""
    out: Tensors = {}
    for name, value in sd.items():
        if name.endswith((".attention.to_k.weight", ".attention.to_v.weight")):
            continue
        if name.endswith(".attention.to_q.weight"):
            block = name.removesuffix("to_q.weight")
            out[block + "qkv.weight"] = torch.cat([sd[block + f"to_{x}.weight"] for x in "qkv"])
            continue
        for mine, theirs in (("all_final_layer.2-1.", "final_layer."), ("all_x_embedder.2-1.", "x_embedder."),
                             (".attention.to_out.0.", ".attention.out."), (".attention.norm_k.", ".attention.k_norm."),
                             (".attention.norm_q.", ".attention.q_norm.")):
            name = name.replace(mine, theirs)
        out[name] = value
    # the original keeps a final norm the model never applies (diffusers' converter drops it)
    out["norm_final.weight"] = sd["cap_pad_token"].new_zeros(sd["cap_pad_token"].shape[-1])
    return out


INVERSES: dict[str, Callable[[Tensors], Tensors]] = {
    "flux": _flux1, "flux-fill": _flux1, "chroma": _chroma, "sd3": _sd3, "flux2-klein": _flux2, "z-image": _z_image,
    "qwen-image": dict,  # Qwen-Image's own names are diffusers' (its mapping is the identity)
}


def to_original(key: str, state_dict: Tensors) -> Tensors:
    """The transformer's tensors under the original layout's names (no prefix)."""
    return INVERSES[key](dict(state_dict))


def in_form(tensors: Tensors, form: str) -> Tensors:
    """`bfl`: as they are; `comfyui`: under `model.diffusion_model.`, beside a text encoder and a VAE."""
    if form == "bfl":
        return dict(tensors)
    if form != "comfyui":
        raise ValueError(f"unknown form {form!r}; known: {', '.join(FORMS)}")
    return {**{PREFIX + name: value for name, value in tensors.items()},
            **{name: torch.zeros(shape) for name, shape in BESIDE.items()}}


def _transformer(folder: Path):
    import diffusers

    index = json.loads((folder / "model_index.json").read_text())
    return getattr(diffusers, index["transformer"][1]).from_pretrained(folder, subfolder="transformer")


def _family(folder: Path) -> str:
    from canvas.painters.diffusion.families import recognise_folder

    found = recognise_folder(folder)
    assert found is not None, folder
    return found.key


def write_original(folder: Path, path: Path, form: str = "bfl") -> Path:
    """The transformer saved in `folder` as one original-layout .safetensors file of `form`."""
    from safetensors.torch import save_file

    tensors = to_original(_family(folder), _transformer(folder).state_dict())
    save_file({name: value.contiguous() for name, value in in_form(tensors, form).items()}, str(path))
    return path


def write_original_gguf(folder: Path, path: Path, quant: str) -> Path:
    """The transformer saved in `folder` as city96's GGUF files hold it: original names, no
    prefix, the weights of linear layers in `quant` (the same tensors tiny_families'
    write_gguf quantizes: a fused projection is quantized when its parts are)."""
    if quant not in GGUF_QUANTS:
        raise ValueError(f"unknown GGUF type {quant!r}; known: {', '.join(GGUF_QUANTS)}")
    key = _family(folder)
    transformer = _transformer(folder)
    state_dict = transformer.state_dict()
    tensors = to_original(key, state_dict)
    # Which original tensors are quantized: the inverse carried over a map of 1 (quantized)
    # and 0 (F32) per diffusers tensor; a fused tensor must be all one or the other.
    kinds = gguf_types(transformer, quant)
    marks = to_original(key, {name: torch.full(value.shape, float(kinds[name] == quant))
                              for name, value in state_dict.items()})
    types = {}
    for name, mark in marks.items():
        assert mark.min() == mark.max(), f"{name}: fused from quantized and unquantized parts"
        types[name] = quant if mark.numel() and mark.flatten()[0] == 1 else "F32"
    return write_gguf_tensors(path, GGUF_ARCHITECTURES[key], tensors, types)


# --- diffusers' FLUX.1 and Chroma converters at a tiny width ------------------------------------


def _pad_rows(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    return torch.cat([tensor, tensor.new_zeros((rows - tensor.shape[0], *tensor.shape[1:]))])


def at_converter_width(convert: Callable) -> Callable:
    """diffusers' FLUX.1 (or Chroma) converter, run on a transformer narrower than the 3072
    it assumes: each single block's fused q, k, v, MLP projection is spread over rows of the
    converter's widths (zeros between), converted by diffusers' own code, and cut back.
    Every other step of the conversion (names, the q/k/v split of double blocks, the final
    norm's swap) is diffusers' own, untouched. Works on GGUF tensors too (rows stay whole)."""

    def convert_tiny(checkpoint, config=None, **kwargs):
        width = config["num_attention_heads"] * config["attention_head_dim"]
        for name in [name for name in checkpoint if ".linear1." in name and "single_blocks." in name]:
            q, k, v, mlp = torch.split(checkpoint[name], (width, width, width, 4 * width))
            checkpoint[name] = torch.cat([*(_pad_rows(x, CONVERTER_WIDTH) for x in (q, k, v)),
                                          _pad_rows(mlp, CONVERTER_MLP)])
        converted = convert(checkpoint, config=config, **kwargs)
        for name, value in converted.items():
            if name.startswith("single_transformer_blocks.") and ".attn.to_" in name:
                converted[name] = value[:width] if ".attn.to_out" not in name else value
            elif name.startswith("single_transformer_blocks.") and ".proj_mlp." in name:
                converted[name] = value[: 4 * width]
        return converted

    return convert_tiny


@contextlib.contextmanager
def converters_at_tiny_width() -> Iterator[None]:
    """diffusers' FLUX.1 and Chroma single-file converters made to take the tiny widths, for
    the duration (FLUX.2's, Z-Image's, SD3's and Qwen-Image's read every width from the file)."""
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    entries = [SINGLE_FILE_LOADABLE_CLASSES[name] for name in ("FluxTransformer2DModel", "ChromaTransformer2DModel")]
    originals = [entry["checkpoint_mapping_fn"] for entry in entries]
    try:
        for entry, convert in zip(entries, originals):
            entry["checkpoint_mapping_fn"] = at_converter_width(convert)
        yield
    finally:
        for entry, convert in zip(entries, originals):
            entry["checkpoint_mapping_fn"] = convert


def converted(key: str, folder: Path, original: Tensors) -> Tensors:
    """`original` converted to diffusers' names by diffusers' own mapping of the family's
    transformer class (the one `from_single_file` applies)."""
    import diffusers
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    transformer_class = json.loads((folder / "model_index.json").read_text())["transformer"][1]
    config = getattr(diffusers, transformer_class).load_config(folder, subfolder="transformer")
    return SINGLE_FILE_LOADABLE_CLASSES[transformer_class]["checkpoint_mapping_fn"](
        checkpoint=dict(original), config=config)
