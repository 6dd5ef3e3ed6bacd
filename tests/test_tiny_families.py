"""The tiny family pipelines (tests/tiny_families.py): each saved folder loads with its
family's diffusers pipeline and paints a masked window, the family table recognises the
folder and its transformer file, and GGUF files of the transformer load and paint."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from canvas.painters.diffusion import families  # noqa: E402
from pictures import photo  # noqa: E402
from tiny_families import FAMILY_KINDS, TinyFamilies, gguf_types, save_pipeline  # noqa: E402

SIZE = 128
# The real models' transformer inputs per token (config.json of each), which the tiny ones keep.
REAL_IN_CHANNELS = {"flux-fill": 384, "flux": 64, "sd3": 16, "flux2-klein": 128, "z-image": 16, "qwen-image": 64,
                    "chroma": 64}
GGUF_KINDS = ("flux-fill", "qwen-image")  # all seven pass; two keep the suite quick


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyFamilies:
    return TinyFamilies.shared(tmp_path_factory)


def pipeline_of(folder, **components):
    import diffusers

    index = json.loads((folder / "model_index.json").read_text())
    return getattr(diffusers, index["_class_name"]).from_pretrained(folder, **components)


def paint(pipeline, key: str, seed: int) -> np.ndarray:
    """One 128 px window, its right half masked, 2 steps at the family's default guidance."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, SIZE // 2 :] = 255
    options = dict(prompt="a red boat", image=Image.fromarray(photo("astronaut", SIZE)),
                   mask_image=Image.fromarray(mask), height=SIZE, width=SIZE, num_inference_steps=2,
                   guidance_scale=families.family(key).guidance, generator=torch.Generator().manual_seed(seed),
                   output_type="np")
    if "strength" in inspect.signature(pipeline.__call__).parameters:
        options["strength"] = 1.0  # every step: 2 steps, not 2 x the default 0.6
    return pipeline(**options).images[0]


def test_every_family_painted_by_a_diffusers_pipeline_has_a_tiny_one() -> None:
    assert set(FAMILY_KINDS) == {family.key for family in families.FAMILIES.values() if not family.own_loop}


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_folder_loads_with_its_pipeline_and_paints(tiny: TinyFamilies, key: str) -> None:
    folder = tiny.folder(key)
    pipeline = pipeline_of(folder)
    assert type(pipeline).__name__ == families.family(key).inpaint_pipeline
    assert pipeline.transformer.config.in_channels == REAL_IN_CHANNELS[key]
    vae = pipeline.vae.config
    assert vae.get("latent_channels", vae.get("z_dim")) == families.family(key).latent_channels
    first, again, other = paint(pipeline, key, 1), paint(pipeline, key, 1), paint(pipeline, key, 2)
    assert first.shape == (SIZE, SIZE, 3) and np.isfinite(first).all()
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_family_table_recognises_folder_and_transformer_file(tiny: TinyFamilies, key: str) -> None:
    folder = tiny.folder(key)
    assert families.recognise_folder(folder).key == key
    assert families.recognise_file(folder / "transformer" / "diffusion_pytorch_model.safetensors").key == key


def test_qwen_tokenizers_read_as_the_real_ones(tiny: TinyFamilies) -> None:
    qwen_image = pipeline_of(tiny.folder("qwen-image"))
    # the system turn the pipeline drops by count is exactly that many tokens
    system = qwen_image.prompt_template_encode.split("{}")[0]
    assert len(qwen_image.tokenizer(system).input_ids) == qwen_image.prompt_template_encode_start_idx
    # Qwen3's chat template, as Klein (no thinking) and Z-Image (thinking) apply it
    klein = pipeline_of(tiny.folder("flux2-klein")).tokenizer
    turn = "<|im_start|>user\na red boat<|im_end|>\n<|im_start|>assistant\n"
    for thinking, suffix in ((False, "<think>\n\n</think>\n\n"), (True, "")):
        text = klein.apply_chat_template([{"role": "user", "content": "a red boat"}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=thinking)
        assert text == turn + suffix
    assert klein.convert_ids_to_tokens(klein(turn).input_ids[:2]) == ["<|im_start|>", "user"]


def test_saving_is_deterministic(tiny: TinyFamilies, tmp_path) -> None:
    first = tiny.folder("flux-fill")
    again = save_pipeline("flux-fill", tmp_path / "flux-fill")
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(again) for path in again.rglob("*") if path.is_file())
    assert all((first / name).read_bytes() == (again / name).read_bytes() for name in files)


def gguf_transformer(tiny: TinyFamilies, key: str, quant: str):
    from diffusers import GGUFQuantizationConfig

    folder = tiny.folder(key)
    transformer_class = type(pipeline_of(folder).transformer)
    return transformer_class.from_single_file(
        str(tiny.gguf(key, quant)), quantization_config=GGUFQuantizationConfig(compute_dtype=torch.float32),
        config=str(folder), subfolder="transformer")


@pytest.mark.parametrize("key", GGUF_KINDS)
def test_gguf_bf16_paints_as_the_bf16_rounded_transformer(tiny: TinyFamilies, key: str) -> None:
    from diffusers.quantizers.gguf.utils import GGUFLinear, dequantize_gguf_tensor

    transformer = gguf_transformer(tiny, key, "BF16")
    reference = pipeline_of(tiny.folder(key))
    types = gguf_types(reference.transformer, "BF16")
    quantized = {f"{name}.weight" for name, module in transformer.named_modules() if isinstance(module, GGUFLinear)}
    assert quantized == {name for name, kind in types.items() if kind == "BF16"} and quantized
    with torch.no_grad():
        for name, parameter in reference.transformer.named_parameters():
            if types[name] == "BF16":
                parameter.copy_(parameter.to(torch.bfloat16).float())
    rounded = reference.transformer.state_dict()
    for name, value in transformer.state_dict().items():
        assert torch.equal(dequantize_gguf_tensor(value).float(), rounded[name]), name
    # The same weights, so the same picture up to float rounding: a float32 matmul's sums
    # depend on where its weight sits in memory (the reference's come unaligned from the
    # .safetensors file; the same weight cloned gives last-bit differences too).
    painted = paint(pipeline_of(tiny.folder(key), transformer=transformer), key, 1)
    assert np.abs(painted - paint(reference, key, 1)).max() < 1e-5


@pytest.mark.parametrize("key", GGUF_KINDS)
def test_gguf_q8_0_loads_quantized_and_paints(tiny: TinyFamilies, key: str) -> None:
    import gguf

    transformer = gguf_transformer(tiny, key, "Q8_0")
    kinds = {getattr(p, "quant_type", None) for p in transformer.parameters()}
    assert gguf.GGMLQuantizationType.Q8_0 in kinds
    painted = paint(pipeline_of(tiny.folder(key), transformer=transformer), key, 1)
    unquantized = paint(pipeline_of(tiny.folder(key)), key, 1)
    assert painted.shape == (SIZE, SIZE, 3)
    # 8-bit weights: near the unquantized picture, not equal to it
    assert 0 < np.abs(painted - unquantized).max() < 0.1
