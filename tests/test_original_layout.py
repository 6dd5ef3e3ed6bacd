"""The files people download, in their makers' layouts (tests/original_layout.py): BFL's
FLUX.1 / Fill / FLUX.2 Klein files, lodestones' Chroma, Stability's SD 3.x, Alibaba's
Z-Image, Qwen-Image; alone (a ComfyUI `diffusion_models` file), as an all-in-one checkpoint
under `model.diffusion_model.` beside text encoders and VAE, and as city96's GGUFs (BF16,
Q8_0). Their headers tell the family, the library files them by kind and family, and the
painter loads each with `--model-config` and paints what the diffusers folder paints."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("gguf")

import torch  # noqa: E402

from canvas.painters import CancelToken, PaintRequest, create_painter  # noqa: E402
from canvas.painters.diffusion import ModelError  # noqa: E402
from canvas.painters.diffusion.families import FAMILIES, recognise_file, recognise_shapes  # noqa: E402
from original_layout import (  # noqa: E402
    FORMS,
    PREFIX,
    converted,
    converters_at_tiny_width,
    to_original,
    write_original,
    write_original_gguf,
)
from pictures import photo  # noqa: E402
from tiny_families import FAMILY_KINDS, GGUF_QUANTS, TinyFamilies, round_to_bf16  # noqa: E402

SIZE = 64
REQUEST = PaintRequest(prompt="a red boat", seed=1, steps=2, guidance=3.5)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyFamilies:
    return TinyFamilies.shared(tmp_path_factory)


@pytest.fixture(autouse=True)
def tiny_widths():
    with converters_at_tiny_width():
        yield


def made(tiny: TinyFamilies, name: str, write: Callable[[Path], object]) -> Path:
    """tiny.root/original/`name`, written by `write(path)` the first time it is asked for in a session."""
    path = tiny.root / "original" / name
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        write(path)
    return path


def original_file(tiny: TinyFamilies, key: str, form: str) -> Path:
    """Family `key`'s tiny transformer as an original-layout .safetensors file of `form`."""
    return made(tiny, f"{key}-{form}.safetensors", lambda path: write_original(tiny.folder(key), path, form))


def original_gguf(tiny: TinyFamilies, key: str, quant: str) -> Path:
    return made(tiny, f"{key}-{quant}.gguf", lambda path: write_original_gguf(tiny.folder(key), path, quant))


def config_folder(tiny: TinyFamilies, key: str) -> Path:
    """Family `key`'s diffusers folder without the transformer's weights (its config.json
    stays): all `--model-config` needs beside a transformer file."""
    import shutil

    def weightless(where: str, names: list[str]) -> list[str]:
        return [name for name in names if Path(where).name == "transformer" and name.endswith(".safetensors")]

    folder = made(tiny, f"{key}-config", lambda path: shutil.copytree(tiny.folder(key), path, ignore=weightless))
    assert not list((folder / "transformer").glob("*.safetensors"))
    return folder


def window() -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[:, SIZE // 2 :] = True
    return photo("astronaut", SIZE), mask


def paint(painter) -> np.ndarray:
    image, mask = window()
    [out] = painter.paint(image, mask, REQUEST, lambda progress: None, CancelToken())
    return out.astype(int)


def file_painter(tiny: TinyFamilies, key: str, path, config=None):
    painter = create_painter("diffusion", model=str(path), model_config=str(config or tiny.folder(key)), offline=True,
                             dtype="fp32", soft_mask=0)
    assert painter.family.key == key
    return painter


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_the_original_layout_converts_back_to_every_tensor_bit_for_bit(tiny, key):
    from safetensors.torch import load_file

    from canvas.painters.diffusion.denoiser_file import denoiser_tensors

    folder = tiny.folder(key)
    ours = load_file(str(folder / "transformer" / "diffusion_pytorch_model.safetensors"))
    original = to_original(key, ours)
    if key != "qwen-image":  # Qwen-Image's files keep diffusers' names
        assert set(original) != set(ours)  # another layout: from_single_file converts it
    back = converted(key, folder, original)  # diffusers' own converter of the family
    assert set(back) == set(ours) and all(torch.equal(back[name], ours[name]) for name in ours)
    # both forms of the file give the painter these tensors, unprefixed, and nothing else
    for form in FORMS:
        tensors = denoiser_tensors(original_file(tiny, key, form))
        assert set(tensors) == set(original) and all(torch.equal(tensors[name], original[name]) for name in original)


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_the_original_header_tells_the_family(tiny, key):
    from canvas.library.content import read_content
    from canvas.painters.diffusion.model_family import gguf_shapes

    for form, kind in zip(FORMS, ("diffusion_model", "checkpoint")):
        path = original_file(tiny, key, form)
        assert recognise_file(path).key == key, form
        assert (read_content(path).kind, read_content(path).family) == (kind, key), form
    for quant in GGUF_QUANTS:
        path = original_gguf(tiny, key, quant)
        assert recognise_shapes(gguf_shapes(path)).key == key, quant
        assert (read_content(path).kind, read_content(path).family) == ("diffusion_model", key), quant


def test_a_comfyui_folder_of_original_files_is_listed_by_kind_and_family(tiny, tmp_path):
    import shutil

    from canvas.library import Library

    models = tmp_path / "ComfyUI" / "models"
    expected = {}
    for key in FAMILY_KINDS:
        for folder, source, kind in (("diffusion_models", original_file(tiny, key, "bfl"), "diffusion_model"),
                                     ("checkpoints", original_file(tiny, key, "comfyui"), "checkpoint"),
                                     ("unet", original_gguf(tiny, key, "Q8_0"), "diffusion_model")):
            (models / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, models / folder / source.name)
            expected[(kind, source.stem)] = (key, source.suffix.lstrip("."))
    library = Library([tmp_path / "ComfyUI"], cache=tmp_path / "cache.json")
    assert {(e.kind, e.name): (e.family, e.format) for e in library.entries()} == expected
    assert not library.scan.skipped


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_the_painter_paints_an_original_file_as_the_diffusers_folder(tiny, key):
    folder_painted = paint(tiny.painter(key, soft_mask=0))
    # the config folder with the transformer's own weights, or without them
    for form, config in zip(FORMS, (tiny.folder(key), config_folder(tiny, key))):
        painter = file_painter(tiny, key, original_file(tiny, key, form), config)
        assert np.abs(paint(painter) - folder_painted).max() <= 1, form


@pytest.mark.parametrize("key", FAMILY_KINDS)
def test_an_original_gguf_paints_as_its_weights(tiny, key):
    from diffusers.quantizers.gguf.utils import GGUFLinear, dequantize_gguf_tensor

    # BF16: the weights of the model rounded to bf16, bit for bit, and so its pixels
    bf16 = file_painter(tiny, key, original_gguf(tiny, key, "BF16"))
    transformer = bf16.model.pipeline.transformer
    assert transformer.is_quantized
    rounded = create_painter("diffusion", model=str(tiny.folder(key)), dtype="fp32", soft_mask=0, offline=True)
    round_to_bf16(rounded.model.pipeline.transformer)
    reference = rounded.model.pipeline.transformer.state_dict()
    quantized = [name for name, module in transformer.named_modules() if isinstance(module, GGUFLinear)]
    assert quantized
    for name, value in transformer.state_dict().items():
        assert torch.equal(dequantize_gguf_tensor(value).float(), reference[name]), name
    assert np.abs(paint(bf16) - paint(rounded)).max() <= 1
    # Q8_0: the same blocks as the file of diffusers' names quantizes (rows of 32 either way)
    q8 = file_painter(tiny, key, original_gguf(tiny, key, "Q8_0"))
    assert q8.model.pipeline.transformer.is_quantized
    theirs = file_painter(tiny, key, tiny.gguf(key, "Q8_0"))
    blocks = theirs.model.pipeline.transformer.state_dict()
    for name, value in q8.model.pipeline.transformer.state_dict().items():
        assert torch.equal(dequantize_gguf_tensor(value), dequantize_gguf_tensor(blocks[name])), name
    assert np.abs(paint(q8) - paint(theirs)).max() <= 1


def test_a_file_of_another_family_than_its_config_is_one_line(tiny, tmp_path, photo_file, capsys):
    from canvas.cli import main

    for key, other in zip(FAMILY_KINDS, FAMILY_KINDS[1:] + FAMILY_KINDS[:1]):
        for path in (original_file(tiny, key, "bfl"), original_file(tiny, key, "comfyui"), original_gguf(tiny, key, "Q8_0")):
            with pytest.raises(ModelError) as error:
                create_painter("diffusion", model=str(path), model_config=str(tiny.folder(other)), dtype="fp32")
            text = str(error.value)
            assert text.startswith(f"{path.name} is a {FAMILIES[key].label} model but --model-config"), text
            assert "\n" not in text
    path, out = original_file(tiny, "flux-fill", "comfyui"), tmp_path / "o.png"
    args = ["expand", str(photo_file), "--down", "64", "-o", str(out), "--painter", "diffusion", "--model", str(path),
            "--model-config", str(tiny.folder("flux")), "--offline"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a FLUX.1 Fill model but --model-config" in err[0] and not out.exists()
    # without a config folder: one line that asks for one (an all-in-one file too: only its transformer is read)
    with pytest.raises(ModelError) as error:
        create_painter("diffusion", model=str(path), dtype="fp32")
    assert "give --model-config" in str(error.value) and "\n" not in str(error.value)


def scaled_fp8(tensors: dict[str, torch.Tensor], style: str) -> dict[str, torch.Tensor]:
    """`tensors` as ComfyUI stores them in fp8 with a scale per weight: its "fp8_scaled" files
    (a `scaled_fp8` marker, `.scale_weight`) or its newer quantized ones (`.weight_scale`, `.comfy_quant`)."""
    out: dict[str, torch.Tensor] = {}
    for name, value in tensors.items():
        if not (name.endswith(".weight") and value.dim() == 2):
            out[name] = value
            continue
        out[name] = value.to(torch.float8_e4m3fn)
        layer = name.removesuffix(".weight")
        if style == "fp8_scaled":
            out[layer + ".scale_weight"] = torch.tensor(1.0)
        else:
            out[layer + ".weight_scale"] = torch.tensor(1.0)
            out[layer + ".comfy_quant"] = torch.tensor(list(b'{"format": "float8_e4m3fn"}'), dtype=torch.uint8)
    if style == "fp8_scaled":
        out["scaled_fp8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
    return out


def test_comfyuis_scaled_fp8_files_are_refused_in_one_line_and_plain_fp8_loads(tiny, tmp_path):
    # diffusers 0.42 loads their fp8 weights and drops the scales (Z-Image's and Qwen-Image's
    # converters without a word): they would paint noise, so the painter refuses them by name.
    from safetensors.torch import load_file, save_file

    from canvas.library.content import read_content
    from canvas.painters.diffusion.families import SCALE_NAMES, SCALED_FP8

    for key, style in (("qwen-image", "fp8_scaled"), ("z-image", "comfy_quant")):
        path = tmp_path / f"{key}_{style}.safetensors"
        save_file(scaled_fp8(load_file(str(original_file(tiny, key, "bfl"))), style), str(path))
        with pytest.raises(ModelError) as error:
            create_painter("diffusion", model=str(path), model_config=str(tiny.folder(key)), dtype="fp32")
        assert str(error.value) == f"{path}: {SCALED_FP8}" and "\n" not in SCALED_FP8
        content = read_content(path)
        assert (content.kind, content.family, content.reason) == (None, key, SCALED_FP8)
    # a plain fp8 file (Comfy-Org's `_fp8_e4m3fn`, no scales) loads as its fp8 weights
    fp8 = {name: value for name, value in scaled_fp8(load_file(str(original_file(tiny, "qwen-image", "comfyui"))),
                                                      "fp8_scaled").items() if not name.endswith(SCALE_NAMES)}
    save_file(fp8, str(tmp_path / "qwen_image_fp8_e4m3fn.safetensors"))
    painter = file_painter(tiny, "qwen-image", tmp_path / "qwen_image_fp8_e4m3fn.safetensors")
    loaded = painter.model.pipeline.transformer.state_dict()
    assert all(torch.equal(loaded[name.removeprefix(PREFIX)], value.float()) for name, value in fp8.items()
               if name.startswith(PREFIX))
