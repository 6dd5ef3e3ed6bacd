"""Tiny random-weight pipelines of the transformer families, built in code: no download.

Each is the family's own diffusers pipeline with the real shapes callers depend on (a VAE
that downsamples by 8, the real latent channels, 2x2 latent packing, the transformer's real
in_channels, guidance embeddings where the real model has them) and everything else a few
channels wide with one block of each kind, so a 128 px window of 2 steps takes a fraction
of a second on one CPU core.

    folder = save_pipeline("flux-fill", tmp_path / "flux-fill")       # loads with FluxFillPipeline
    write_gguf(folder, tmp_path / "flux-fill-Q8_0.gguf", "Q8_0")        # its transformer, as GGUF

Every tokenizer is made here from a `tokenizers` model: CLIP's byte-level BPE without merges
(tiny_models'), T5 as a Unigram model over single characters, Qwen2 as byte-level BPE
without merges plus Qwen's special tokens and a chat template. Widths that a GGUF Q8_0
file quantizes (the inputs of linear layers) are multiples of 32, its block size.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

import torch

from tiny_models import _byte_symbols
from tiny_models import _tokenizer as _clip_tokenizer
from tiny_models import _text_config as _clip_config
from tiny_models import _write_tokenizer as _write_clip_tokenizer

FAMILY_KINDS = ("flux-fill", "flux", "sd3", "flux2-klein", "z-image", "qwen-image", "chroma")
HEADS, HEAD_DIM = 2, 16  # transformer width 32: a Q8_0 block
CLIP_HIDDEN = 32
T5_HIDDEN = 32


def save_pipeline(key: str, folder: Path) -> Path:
    """Build the tiny pipeline of family `key` (one of FAMILY_KINDS) and save it as a diffusers folder."""
    pipeline = build_pipeline(key)
    pipeline.save_pretrained(folder)
    # CLIP's tokenizer as its files are on the hub (vocab.json, merges.txt): tiny_models'
    for name in ("tokenizer", "tokenizer_2", "tokenizer_3"):
        if type(getattr(pipeline, name, None)).__name__ == "CLIPTokenizer":
            _write_clip_tokenizer(folder / name)
    return folder


def build_pipeline(key: str):
    """The tiny pipeline of family `key`, its inpainting class, seeded: the same weights every time."""
    if key not in BUILDERS:
        raise ValueError(f"unknown tiny family {key!r}; known: {', '.join(FAMILY_KINDS)}")
    torch.manual_seed(0)
    return BUILDERS[key]()


# --- FLUX.1: CLIP + T5, a 16-channel VAE, the FLUX transformer ---------------------------------


def _flux_fill():
    from diffusers import FluxFillPipeline

    # The real in_channels: 64 packed latents + 64 packed masked-image latents + the mask
    # packed at 8x8 pixels per latent and 2x2 latents per token (256).
    return FluxFillPipeline(**_flux_parts(in_channels=384, out_channels=64))


def _flux():
    from diffusers import FluxInpaintPipeline

    return FluxInpaintPipeline(**_flux_parts(in_channels=64, out_channels=None))


def _flux_parts(in_channels: int, out_channels: int | None) -> dict:
    """FLUX.1 dev's layout: guidance embeddings, CLIP pooled output, T5 sequence."""
    from diffusers import FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5EncoderModel

    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=in_channels, out_channels=out_channels, num_layers=1, num_single_layers=1,
        attention_head_dim=HEAD_DIM, num_attention_heads=HEADS, joint_attention_dim=T5_HIDDEN,
        pooled_projection_dim=CLIP_HIDDEN, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),  # (16, 56, 56) in the real one: time, then the two image axes
    )
    return dict(
        scheduler=_flow_scheduler(dynamic=True), vae=_flux_vae(),
        text_encoder=CLIPTextModel(_clip_config(CLIPTextConfig, CLIP_HIDDEN)), tokenizer=_clip_tokenizer(),
        text_encoder_2=T5EncoderModel(_t5_config(T5_HIDDEN)), tokenizer_2=_t5_tokenizer(), transformer=transformer,
    )


# --- SD 3.x: two CLIPs and T5, a 16-channel VAE, the MMDiT -------------------------------------

SD3_CLIP_HIDDEN_2 = 64  # the second CLIP (OpenCLIP bigG) is the wider one, as in the real model
SD3_T5_HIDDEN = 96  # holds the two CLIPs' sequences side by side (the pipeline pads them to T5's width)


def _sd3():
    from diffusers import SD3Transformer2DModel, StableDiffusion3InpaintPipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5EncoderModel

    # SD 3.5 Medium's layout: 2x2 patches, RMS-normed queries and keys, a dual-attention block.
    transformer = SD3Transformer2DModel(
        sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
        attention_head_dim=HEAD_DIM, num_attention_heads=HEADS, joint_attention_dim=SD3_T5_HIDDEN,
        caption_projection_dim=HEADS * HEAD_DIM, pooled_projection_dim=CLIP_HIDDEN + SD3_CLIP_HIDDEN_2,
        # 96 patches a side: windows to 1536 px (the real 3.5 Medium: 384; its table is 19 MB)
        pos_embed_max_size=96, dual_attention_layers=(0,), qk_norm="rms_norm",
    )
    return StableDiffusion3InpaintPipeline(
        transformer=transformer, scheduler=_flow_scheduler(dynamic=False),
        vae=_vae(scaling_factor=1.5305, shift_factor=0.0609),
        text_encoder=CLIPTextModelWithProjection(_clip_config(CLIPTextConfig, CLIP_HIDDEN, projection=CLIP_HIDDEN)),
        tokenizer=_clip_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(
            _clip_config(CLIPTextConfig, SD3_CLIP_HIDDEN_2, projection=SD3_CLIP_HIDDEN_2)),
        tokenizer_2=_clip_tokenizer(),
        text_encoder_3=T5EncoderModel(_t5_config(SD3_T5_HIDDEN)), tokenizer_3=_t5_tokenizer(),
    )


# --- FLUX.2 Klein: Qwen3, a 32-channel VAE with batch-normed 2x2 patches ------------------------

KLEIN_LAYERS = (9, 18, 27)  # the text encoder's hidden states Klein stacks (the pipeline's default)


def _flux2_klein():
    from diffusers import AutoencoderKLFlux2, Flux2KleinInpaintPipeline, Flux2Transformer2DModel

    # Klein 4B's layout: 32 latent channels x 2x2 patches in, no guidance embedding (step
    # distilled), three of the text encoder's hidden states side by side as the text.
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=128, num_layers=1, num_single_layers=1, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=len(KLEIN_LAYERS) * QWEN_HIDDEN, mlp_ratio=3.0,
        axes_dims_rope=(4, 4, 4, 4), rope_theta=2000, guidance_embeds=False,
    )
    vae = AutoencoderKLFlux2(
        block_out_channels=(4, 8, 8, 8), layers_per_block=1, latent_channels=32, norm_num_groups=4,
    )
    # The hidden states it reads must exist: 27 layers, each tiny.
    text_encoder = _qwen3("Qwen3ForCausalLM", layers=max(KLEIN_LAYERS))
    return Flux2KleinInpaintPipeline(scheduler=_flow_scheduler(dynamic=True), vae=vae, text_encoder=text_encoder,
                                     tokenizer=_qwen_tokenizer(), transformer=transformer, is_distilled=True)


# --- Z-Image: Qwen3, FLUX.1's VAE, the single-stream DiT --------------------------------------

ZIMAGE_DIM = 96  # its feed-forward is 8/3 as wide: 256, a whole number of Q8_0 blocks


def _z_image():
    from diffusers import ZImageInpaintPipeline, ZImageTransformer2DModel

    # Z-Image Turbo's layout: 2x2 patches of 16 channels, refiners for noise and caption,
    # the caption in the width of the text encoder's last-but-one hidden state.
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=ZIMAGE_DIM, n_layers=1, n_refiner_layers=1,
        n_heads=3, n_kv_heads=3, qk_norm=True, cap_feat_dim=QWEN_HIDDEN, rope_theta=256.0, t_scale=1000.0,
        axes_dims=[8, 12, 12], axes_lens=[1536, 512, 512],  # [32, 48, 48] of a 128 head in the real one
    )
    return ZImageInpaintPipeline(scheduler=_flow_scheduler(dynamic=False), vae=_flux_vae(),
                                 text_encoder=_qwen3("Qwen3Model", layers=2), tokenizer=_qwen_tokenizer(),
                                 transformer=transformer)


# --- Qwen-Image: Qwen2.5-VL, its own causal-3D VAE, the MMDiT -----------------------------------

QWEN_VL_SPECIALS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def _qwen_image():
    from diffusers import AutoencoderKLQwenImage, QwenImageInpaintPipeline, QwenImageTransformer2DModel

    # Qwen-Image's layout: 16 channels in 2x2 patches (64 in), the text in the width of
    # Qwen2.5-VL's last hidden state, no guidance embedding (true classifier-free guidance).
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=64, out_channels=16, num_layers=1, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=QWEN_HIDDEN, guidance_embeds=False, axes_dims_rope=(4, 6, 6),
    )
    # A video VAE over one frame: three spatial halvings (8x), RMS norms, the real latent
    # statistics (its defaults).
    vae = AutoencoderKLQwenImage(base_dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True, True])
    scheduler = _flow_scheduler(dynamic=True, max_image_seq_len=8192, max_shift=0.9, shift=1.0,
                                shift_terminal=0.02, time_shift_type="exponential")
    return QwenImageInpaintPipeline(scheduler=scheduler, vae=vae, text_encoder=_qwen2_5_vl(),
                                    tokenizer=_qwen_tokenizer(QWEN_VL_SPECIALS), transformer=transformer)


def _qwen2_5_vl():
    """Qwen2.5-VL with a one-block vision tower: the pipeline reads only its text side, but
    the class (and so the folder) is the real one."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    specials = QWEN_SPECIALS + QWEN_VL_SPECIALS
    vision_start = _qwen_id("<|vision_start|>", specials)
    text = dict(vocab_size=_qwen_id(specials[-1], specials) + 1, hidden_size=QWEN_HIDDEN, intermediate_size=2 * QWEN_HIDDEN,
                num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
                bos_token_id=_qwen_id("<|endoftext|>"), eos_token_id=_qwen_id("<|im_end|>"),
                pad_token_id=_qwen_id("<|endoftext|>"))
    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2, window_size=112, out_hidden_size=QWEN_HIDDEN, fullatt_block_indexes=[0])
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, vision_start_token_id=vision_start,
                              vision_end_token_id=vision_start + 1, image_token_id=vision_start + 2,
                              video_token_id=vision_start + 3)
    return Qwen2_5_VLForConditionalGeneration(config)


# --- Chroma: FLUX.1 schnell's blocks, T5 alone, modulations from a small network ---------------


def _chroma():
    from diffusers import ChromaInpaintPipeline, ChromaTransformer2DModel
    from transformers import T5EncoderModel

    transformer = ChromaTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=T5_HIDDEN, axes_dims_rope=(4, 6, 6),
        approximator_num_channels=64, approximator_hidden_dim=32, approximator_layers=1,
    )
    # Chroma1-HD's transformer/config.json keeps two FLUX.1 keys the class does not take,
    # and ChromaInpaintPipeline reads one of them (diffusers 0.42: `config.guidance_embeds`).
    transformer.register_to_config(guidance_embeds=False, pooled_projection_dim=768)
    # Chroma1-HD's scheduler: no shift (its timesteps are evenly spaced).
    return ChromaInpaintPipeline(scheduler=_flow_scheduler(dynamic=False, shift=1.0), vae=_flux_vae(),
                                 text_encoder=T5EncoderModel(_t5_config(T5_HIDDEN)), tokenizer=_t5_tokenizer(),
                                 transformer=transformer, image_encoder=None, feature_extractor=None)


# --- Qwen: byte-level BPE with Qwen's special tokens and chat template; Qwen3 ---------------------

QWEN_HIDDEN = 32
QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# Qwen3's chat template, cut to what the pipelines use: user turns, the generation prompt,
# and the empty thinking block that `enable_thinking=False` asks for.
QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)


# Qwen-Image's prompt template opens with a system turn that the pipeline drops by count
# (`prompt_template_encode_start_idx`: its 34 tokens in Qwen's vocabulary). Merges that
# spell its words whole make the tiny tokenizer count 34 too, so the prompt's embeddings
# start where the real ones do.
QWEN_IMAGE_SYSTEM = ("system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
                     "spatial relationships of the objects and background:")


def _qwen_tokenizer(extra: tuple[str, ...] = ()):
    """Qwen's byte-level BPE: the 256 byte symbols (GPT-2's), merges for the words of
    Qwen-Image's system turn, then the special tokens; Qwen3's chat template."""
    return _qwen_bpe(_qwen_merges(), QWEN_SPECIALS + extra)


def _qwen_bpe(merges: list[tuple[str, str]], specials: tuple[str, ...]):
    from transformers import Qwen2TokenizerFast

    vocab = {symbol: i for i, symbol in enumerate(_byte_symbols())}
    vocab.update({a + b: 256 + i for i, (a, b) in enumerate(merges)})
    vocab.update({token: len(vocab) + i for i, token in enumerate(specials)})
    tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, additional_special_tokens=list(specials[1:]),
                                   model_max_length=32768)
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    return tokenizer


@functools.cache
def _qwen_merges() -> list[tuple[str, str]]:
    """Left-to-right merges that build each word of QWEN_IMAGE_SYSTEM (and "user") whole."""
    split = _qwen_bpe([], QWEN_SPECIALS).backend_tokenizer.pre_tokenizer
    merges: list[tuple[str, str]] = []
    for word, _ in [*split.pre_tokenize_str(QWEN_IMAGE_SYSTEM), *split.pre_tokenize_str("user")]:
        for end in range(2, len(word) + 1):
            if (word[: end - 1], word[end - 1]) not in merges:
                merges.append((word[: end - 1], word[end - 1]))
    return merges


def _qwen_id(token: str, specials: tuple[str, ...] = QWEN_SPECIALS) -> int:
    """A special token's id: after the 256 bytes and the merged words, in the order of `specials`."""
    return 256 + len(_qwen_merges()) + specials.index(token)


def _qwen3(model_class: str, layers: int):
    import transformers

    config = transformers.Qwen3Config(
        vocab_size=_qwen_id(QWEN_SPECIALS[-1]) + 1, hidden_size=QWEN_HIDDEN, intermediate_size=2 * QWEN_HIDDEN,
        num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
        max_position_embeddings=1024, tie_word_embeddings=True, bos_token_id=None,
        eos_token_id=_qwen_id("<|im_end|>"), pad_token_id=_qwen_id("<|endoftext|>"),
    )
    return getattr(transformers, model_class)(config)


# --- shared parts -------------------------------------------------------------------------------


def _vae(latent_channels: int = 16, scaling_factor: float = 1.0, shift_factor: float | None = None):
    """FLUX.1's and SD3's VAE layout: four blocks (8x), no quant convolutions, tiny widths."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 8, 8, 8), layers_per_block=1, latent_channels=latent_channels,
        norm_num_groups=4, sample_size=1024, scaling_factor=scaling_factor, shift_factor=shift_factor,
        use_quant_conv=False, use_post_quant_conv=False,
    )


def _flux_vae():
    """FLUX.1's VAE (Z-Image and Chroma use it too): its scaling and shift."""
    return _vae(scaling_factor=0.3611, shift_factor=0.1159)


def _flow_scheduler(dynamic: bool, **config):
    """FlowMatchEulerDiscreteScheduler; `dynamic`: FLUX.1's resolution-dependent shift
    (which `config` may retune), else a fixed shift (3 unless `config` says otherwise)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    if dynamic:
        config = {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, **config}
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=config.pop("shift", 3.0),
                                           use_dynamic_shifting=dynamic, **config)


# --- T5: a Unigram model over single characters -----------------------------------------------

T5_SPECIALS = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2 as in T5's vocab


def _t5_pieces() -> list[tuple[str, float]]:
    """T5's special tokens, the word-start mark "▁", every printable ASCII character alone
    and after "▁": every ASCII prompt spells out, anything else is <unk>."""
    chars = [c for c in string.printable if not c.isspace()]
    return [*((s, 0.0) for s in T5_SPECIALS), ("▁", -2.0), *((c, -3.0) for c in chars),
            *(("▁" + c, -4.0) for c in chars)]


def _t5_tokenizer():
    from transformers import T5TokenizerFast

    return T5TokenizerFast(vocab=_t5_pieces(), extra_ids=0, model_max_length=512)


def _t5_config(hidden: int):
    from transformers import T5Config

    # T5 v1.1 (FLUX's, SD3's, Chroma's): gated GELU, no tied embeddings.
    return T5Config(vocab_size=len(_t5_pieces()), d_model=hidden, d_kv=8, d_ff=64, num_layers=1, num_heads=4,
                    relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


BUILDERS = {"flux-fill": _flux_fill, "flux": _flux, "sd3": _sd3, "flux2-klein": _flux2_klein, "z-image": _z_image,
            "qwen-image": _qwen_image, "chroma": _chroma}


# --- GGUF: the transformer as city96's and ComfyUI-GGUF's files hold it -------------------------

GGUF_QUANTS = ("BF16", "Q8_0")


def gguf_types(transformer, quant: str) -> dict[str, str]:
    """The GGUF type of each tensor `write_gguf` writes: the weights of linear layers in
    `quant` (what diffusers' GGUF loader swaps for quantized layers), everything else F32
    (biases, norms, embeddings: as the usual converters keep small tensors)."""
    if quant not in GGUF_QUANTS:
        raise ValueError(f"unknown GGUF type {quant!r}; known: {', '.join(GGUF_QUANTS)}")
    linear = {f"{name}.weight" for name, module in transformer.named_modules() if isinstance(module, torch.nn.Linear)}
    return {name: quant if name in linear else "F32" for name in transformer.state_dict()}


def round_to_bf16(transformer) -> None:
    """The transformer's weights that a BF16 GGUF file keeps in BF16 rounded to it, in place:
    the model a BF16 GGUF file of it loads as."""
    with torch.no_grad():
        for name, kind in gguf_types(transformer, "BF16").items():
            if kind == "BF16":
                parameter = transformer.get_parameter(name)
                parameter.copy_(parameter.to(torch.bfloat16).float())


def write_gguf(folder: Path, path: Path, quant: str) -> Path:
    """The transformer saved in `folder` as one GGUF file of `quant` ("BF16" or "Q8_0"),
    under its diffusers names: `from_single_file(path, config=folder, subfolder="transformer")`
    loads it as it is, as the names equal the model's (diffusers converts only other layouts;
    tests/original_layout.py writes those)."""
    import json

    import diffusers

    index = json.loads((folder / "model_index.json").read_text())
    transformer_class = getattr(diffusers, index["transformer"][1])
    transformer = transformer_class.from_pretrained(folder, subfolder="transformer")
    return write_gguf_tensors(path, index["_class_name"], transformer.state_dict(), gguf_types(transformer, quant))


def write_gguf_tensors(path: Path, architecture: str, tensors: dict[str, torch.Tensor], types: dict[str, str]) -> Path:
    """`tensors` as one GGUF file, each in its GGUF type ("F32", "BF16", "Q8_0"), as the gguf
    package's own converters write them."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch=architecture)
    for name, tensor in tensors.items():
        data = tensor.detach().float().contiguous().numpy()
        kind = gguf.GGMLQuantizationType[types[name]]
        if kind == gguf.GGMLQuantizationType.Q8_0 and data.shape[-1] % gguf.GGML_QUANT_SIZES[kind][0]:
            raise ValueError(f"{name}: rows of {data.shape[-1]} do not split into Q8_0 blocks of 32")
        writer.add_tensor(name, gguf.quants.quantize(data, kind), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# --- one set per test session ---------------------------------------------------------------


class TinyFamilies:
    """Tiny family pipelines saved once per session under `root`, and their GGUF files.

        families = TinyFamilies.shared(tmp_path_factory)
        folder = families.folder("flux-fill"); gguf = families.gguf("flux-fill", "Q8_0")
        painter = families.painter("flux-fill", soft_mask=0)
    """

    _shared: "TinyFamilies | None" = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self._painters: dict[tuple, object] = {}

    @classmethod
    def shared(cls, tmp_path_factory) -> "TinyFamilies":
        if cls._shared is None:
            torch.set_num_threads(1)  # toy models: one thread is fastest (see TinyModels.shared)
            cls._shared = cls(tmp_path_factory.mktemp("tiny-families"))
        return cls._shared

    def folder(self, key: str) -> Path:
        folder = self.root / key
        if not (folder / "model_index.json").is_file():
            save_pipeline(key, folder)
        return folder

    def painter(self, key: str, **settings):
        """The diffusion painter of family `key`'s folder (fp32), built once per session and settings."""
        from canvas.painters import create_painter

        cache_key = (key, tuple(sorted(settings.items())))
        if cache_key not in self._painters:
            self._painters[cache_key] = create_painter("diffusion", model=str(self.folder(key)), dtype="fp32", **settings)
        return self._painters[cache_key]

    def gguf(self, key: str, quant: str) -> Path:
        path = self.root / f"{key}-{quant}.gguf"
        if not path.is_file():
            write_gguf(self.folder(key), path, quant)
        return path
