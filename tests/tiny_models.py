"""Tiny random-weight Stable Diffusion pipelines, built in code: no download, no weights.

They have the real architectures' shapes where it matters (a VAE that downsamples by 8,
the SD 1.x and SDXL UNet block layouts, CLIP text encoders and a CLIP tokenizer) with a
few channels each, so a 512 px window takes a fraction of a second on a CPU.

    folder = save_pipeline("sd-inpaint", tmp_path / "sd-inpaint")      # a diffusers folder
    save_single_file(folder, tmp_path / "sd-inpaint.safetensors")      # as other tools keep it

The tokenizer is byte-level CLIP without merges: the 256 byte symbols, their end-of-word
forms, the two special tokens; every word is spelled out byte by byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

KINDS = ("sd-inpaint", "sd", "sdxl-inpaint", "sdxl")
TEXT_HIDDEN = 32  # the SD text encoder, and SDXL's first one
TEXT_HIDDEN_2 = 48  # SDXL's second (OpenCLIP) encoder: must differ from the first, as
#                     diffusers' single-file loader tells the two apart by their width
TIME_EMBED = 8  # SDXL's addition_time_embed_dim


def save_pipeline(kind: str, folder: Path) -> Path:
    """Build a tiny pipeline of `kind` (one of KINDS) and save it as a diffusers folder."""
    pipeline = build_pipeline(kind)
    pipeline.save_pretrained(folder)
    _write_tokenizer(folder / "tokenizer")
    if "sdxl" in kind:
        _write_tokenizer(folder / "tokenizer_2")
    return folder


def build_pipeline(kind: str):
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionXLInpaintPipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    if kind not in KINDS:
        raise ValueError(f"unknown tiny pipeline {kind!r}")
    torch.manual_seed(0)
    xl = kind.startswith("sdxl")
    in_channels = 9 if kind.endswith("inpaint") else 4
    # The beta schedule of SD 1.x and SDXL; timestep spacing as in their scheduler configs.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="leading",
    )
    tokenizer = _tokenizer()
    text_encoder = CLIPTextModel(_text_config(CLIPTextConfig, TEXT_HIDDEN))
    if not xl:
        return StableDiffusionInpaintPipeline(
            vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer, unet=_sd_unet(in_channels),
            scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(CLIPTextConfig, TEXT_HIDDEN_2, projection=TEXT_HIDDEN))
    return StableDiffusionXLInpaintPipeline(
        vae=_vae(), text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=_tokenizer(), unet=_xl_unet(in_channels), scheduler=scheduler,
    )


def _sd_unet(in_channels: int):
    """SD 1.x's layout (three cross-attention down blocks, then a plain one), tiny widths."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=64,  # x8: a 512 px native window
        in_channels=in_channels,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 8, 16, 16),
        norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN,
        attention_head_dim=2,
    )


def _xl_unet(in_channels: int):
    """SDXL's layout: a plain down block, then two with cross-attention, and the
    text-and-time added conditioning."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=128,  # x8: a 1024 px native window
        in_channels=in_channels,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16, 16),
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN + TEXT_HIDDEN_2,
        attention_head_dim=(2, 2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED,
        projection_class_embeddings_input_dim=6 * TIME_EMBED + TEXT_HIDDEN,
    )


def _vae():
    """Four blocks, three downsamplings: 8x, like the real VAEs (a 2x VAE makes 512 px
    windows 64 times the latent area, and as slow)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=512,
    )


def _text_config(config_class, hidden: int, projection: int | None = None):
    return config_class(
        vocab_size=514,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection or hidden,
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
        hidden_act="gelu" if projection else "quick_gelu",
    )


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes, in byte order (as CLIP's vocab has them)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def _write_tokenizer(folder: Path) -> None:
    """CLIP's files: vocab.json, an empty merges.txt, model_max_length 77."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").unlink(missing_ok=True)  # save_pretrained's: these files are the test
    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": 256 + i for i, s in enumerate(symbols)})
    vocab.update({"<|startoftext|>": 512, "<|endoftext|>": 513})
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77}))


def _tokenizer():
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as folder:
        _write_tokenizer(Path(folder))
        return CLIPTokenizer.from_pretrained(folder)


# --- single files: the original (LDM) layout that A1111, ComfyUI and Civitai files use ----


def save_single_file(folder: Path, path: Path) -> Path:
    """Write the pipeline saved in `folder` as one original-layout .safetensors file."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    state = {"model.diffusion_model." + k: v for k, v in ldm_unet(unet.state_dict(), unet.config).items()}
    state.update({"first_stage_model." + k: v for k, v in ldm_vae(vae.state_dict(), vae.config).items()})
    text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder").state_dict()
    if (folder / "text_encoder_2").is_dir():
        state.update(_prefixed("conditioner.embedders.0.transformer.", _text_model_keys(text)))
        text_2 = CLIPTextModelWithProjection.from_pretrained(folder, subfolder="text_encoder_2").state_dict()
        state.update(_prefixed("conditioner.embedders.1.model.", ldm_open_clip(text_2)))
    else:
        state.update(_prefixed("cond_stage_model.transformer.", _text_model_keys(text)))
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def _prefixed(prefix: str, state: dict) -> dict:
    return {prefix + k: v for k, v in state.items()}


def _text_model_keys(state: dict) -> dict:
    """transformers >= 5.6 flattened CLIPTextModel (no `text_model.`); files keep it."""
    return {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in state.items()}


def ldm_unet(state: dict, config) -> dict:
    """diffusers UNet keys -> LDM keys, for any number of blocks and layers per block."""
    per = config.layers_per_block + 1  # LDM numbers resnets, attentions and the down/upsampler together
    blocks = len(config.block_out_channels)
    renames = [
        ("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
        ("add_embedding.linear_1.", "label_emb.0.0."), ("add_embedding.linear_2.", "label_emb.0.2."),
        ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."),
        ("mid_block.attentions.0.", "middle_block.1."),
    ]
    for j in range(2):
        renames.append((f"mid_block.resnets.{j}.", f"middle_block.{2 * j}."))
    for i in range(blocks):
        for j in range(config.layers_per_block):
            renames.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{per * i + j + 1}.0."))
            renames.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{per * i + j + 1}.1."))
        renames.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{per * (i + 1)}.0.op."))
        up_has_attention = "CrossAttn" in config.up_block_types[i]
        for j in range(per):
            renames.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{per * i + j}.0."))
            renames.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{per * i + j}.1."))
        renames.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{per * i + per - 1}.{2 if up_has_attention else 1}."))
    resnet_parts = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                    ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
    out = {}
    for key, value in state.items():
        new = key
        if "resnets" in key:
            for old, part in resnet_parts:
                new = new.replace(f".{old}.", f".{part}.")
        for old, prefix in renames:
            if new.startswith(old):
                new = prefix + new[len(old):]
                break
        out[new] = value
    return out


def ldm_vae(state: dict, config) -> dict:
    blocks = len(config.block_out_channels)
    renames = [("encoder.mid_block.attentions.0.", "encoder.mid.attn_1."), ("decoder.mid_block.attentions.0.", "decoder.mid.attn_1.")]
    for side in ("encoder", "decoder"):
        for j in range(2):
            renames.append((f"{side}.mid_block.resnets.{j}.", f"{side}.mid.block_{j + 1}."))
        renames.append((f"{side}.conv_norm_out.", f"{side}.norm_out."))
    for i in range(blocks):
        renames.append((f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block."))
        renames.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
        renames.append((f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{blocks - 1 - i}.block."))
        renames.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{blocks - 1 - i}.upsample."))
    attention_parts = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]
    out = {}
    for key, value in state.items():
        new = key.replace(".conv_shortcut.", ".nin_shortcut.")
        for old, prefix in renames:
            if new.startswith(old):
                new = prefix + new[len(old):]
                break
        if ".attn_1." in new:
            for old, part in attention_parts:
                new = new.replace(f".attn_1.{old}", f".attn_1.{part}")
            if value.ndim == 2:  # LDM's attention projections are 1x1 convolutions
                value = value[:, :, None, None]
        out[new] = value
    return out


def ldm_open_clip(state: dict) -> dict:
    """A CLIPTextModelWithProjection's keys -> OpenCLIP's, as SDXL files hold its second encoder."""
    fixed = {
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    parts = [("text_model.encoder.layers.", "transformer.resblocks."), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"),
             (".fc1.", ".c_fc."), (".fc2.", ".c_proj."), (".self_attn.", ".attn.")]
    out: dict = {"text_projection": state["text_projection.weight"].T.contiguous()}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key in fixed:
            out[fixed[key]] = value
            continue
        if not key.startswith("text_model.encoder."):
            continue
        new = key
        for old, part in parts:
            new = new.replace(old, part)
        for code in ("q", "k", "v"):
            for kind in ("weight", "bias"):
                if new.endswith(f".attn.{code}_proj.{kind}"):
                    qkv.setdefault(new[: -len(f"{code}_proj.{kind}")] + f"in_proj_{kind}", {})[code] = value
                    break
            else:
                continue
            break
        else:
            out[new] = value
    for key, pieces in qkv.items():
        out[key] = torch.cat([pieces["q"], pieces["k"], pieces["v"]])
    return out


# --- one set per test session ---------------------------------------------------------------


class TinyModels:
    """Tiny pipelines saved once per session under `root`, and painters over them.

        models = TinyModels.shared(tmp_path_factory)
        painter = models.painter("sd-inpaint")          # fp32: bf16 is slow at 8 channels
        folder = models.folder("sdxl"); file = models.single_file("sd")
    """

    _shared: "TinyModels | None" = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self._painters: dict[str, object] = {}

    @classmethod
    def shared(cls, tmp_path_factory) -> "TinyModels":
        if cls._shared is None:
            # Toy models run thousands of tiny ops, which one thread does best; and with a
            # busy machine, two spinning OpenMP threads wait a scheduler tick at every op
            # (measured: 0.3 s a window alone, 10 s beside another busy process).
            torch.set_num_threads(1)
            cls._shared = cls(tmp_path_factory.mktemp("tiny-models"))
        return cls._shared

    def folder(self, kind: str) -> Path:
        folder = self.root / kind
        if not (folder / "model_index.json").is_file():
            save_pipeline(kind, folder)
        return folder

    def single_file(self, kind: str) -> Path:
        path = self.root / f"{kind}.safetensors"
        if not path.is_file():
            save_single_file(self.folder(kind), path)
        return path

    def config_only(self, kind: str) -> Path:
        """The folder's configs and tokenizer without any weights, as `--model-config` takes."""
        import shutil

        target = self.root / f"{kind}-config"
        if not target.is_dir():
            shutil.copytree(self.folder(kind), target, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
        return target

    def painter(self, kind: str):
        if kind not in self._painters:
            from canvas.painters import create_painter

            self._painters[kind] = create_painter("diffusion", model=str(self.folder(kind)), dtype="fp32", offline=True)
        return self._painters[kind]


# --- Segment Anything and ControlNet ----------------------------------------------------------

SAM_SIZE = 256  # the tiny SAM's square input (real ones: 1024), 16 x 16 embeddings


def save_sam(folder: Path, hq: bool = False) -> Path:
    """A tiny random-weight SAM (or SAM-HQ) with its processor, saved as transformers saves
    them: what `--segmenter FOLDER` loads. A click on it takes milliseconds."""
    import transformers
    from transformers import SamImageProcessorPil, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig

    torch.manual_seed(0)
    vision = SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, output_channels=16,
                             image_size=SAM_SIZE, patch_size=16, window_size=4, global_attn_indexes=[1], num_pos_feats=8)
    prompt = SamPromptEncoderConfig(hidden_size=16, image_size=SAM_SIZE, patch_size=16, mask_input_channels=4)
    decoder = SamMaskDecoderConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32, iou_head_hidden_dim=16)
    prefix = "SamHQ" if hq else "Sam"
    config_class, model_class, processor_class = (getattr(transformers, prefix + n) for n in ("Config", "Model", "Processor"))
    parts = {"vision_config": vision.to_dict(), "prompt_encoder_config": prompt.to_dict(), "mask_decoder_config": decoder.to_dict()}
    if hq:  # SAM-HQ's own sub-configs (model_type sam_hq_*)
        parts["vision_config"]["model_type"] = "sam_hq_vision_model"
        parts["mask_decoder_config"].update(model_type="sam_hq_mask_decoder", vit_dim=32)
    model = model_class(config_class(**parts)).eval()
    model.save_pretrained(folder)
    images = SamImageProcessorPil(size={"longest_edge": SAM_SIZE}, pad_size={"height": SAM_SIZE, "width": SAM_SIZE})
    processor_class(image_processor=images).save_pretrained(folder)
    return folder


def save_controlnet(folder: Path, unet_folder: Path) -> Path:
    """A tiny ControlNet made from a tiny pipeline's UNet (its weights copied, as one
    trains a ControlNet), saved as a diffusers folder; `folder` as .safetensors: one file."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(unet_folder, subfolder="unet")
    torch.manual_seed(0)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(4, 8, 8, 8))
    # The zero convolutions start at zero (a ControlNet that changes nothing); random ones
    # make the test see the control image at work.
    with torch.no_grad():
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            block.weight.normal_(0, 0.5)
    controlnet.save_pretrained(folder)
    return folder
