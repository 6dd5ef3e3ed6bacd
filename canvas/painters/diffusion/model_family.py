"""Which family `--model` is, before any weights load: a diffusers folder or a hub id by its
model_index.json, one .safetensors file by its tensor names, a GGUF transformer by its own
tensor names and its `--model-config` folder. Checked against `--model-config` and
`--controlnet`, so a mismatch is one line at start-up, not a shape error at the first window.

    found = find_family(DiffusionSettings(model="./flux1-fill-dev"))
    found.family.key, found.kind   # ("flux-fill", "folder")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from canvas.painters.diffusion.families import (
    FAMILIES,
    Family,
    not_painted,
    not_painted_index,
    recognise_folder,
    recognise_index,
    recognise_shapes,
)
from canvas.painters.diffusion.headers import HeaderError, safetensors_shapes
from canvas.painters.diffusion.settings import DiffusionSettings, ModelError

GGUF = ".gguf"


@dataclass(frozen=True)
class FoundModel:
    family: Family
    kind: str  # "folder", "hub" or "file" (loading.locate's)
    where: Path | str  # the folder or file, or the hub id


def find_family(settings: DiffusionSettings) -> FoundModel:
    """The family of `settings.model`, or a ModelError that says why it has none."""
    from canvas.painters.diffusion.loading import locate

    kind, where = locate(settings.model)
    if kind == "file":
        assert isinstance(where, Path)
        family = _file_family(where, settings)
    else:
        family = _pipeline_family(kind, where, settings)
    if settings.controlnet and not family.own_loop:
        raise ModelError(f"--controlnet steers SD 1.x/2.x/XL; {family.label} inpaints on its own")
    if not family.own_loop:
        if settings.vae:
            raise ModelError(f"--vae replaces the VAE of SD 1.x/2.x/XL; {family.label} keeps its own")
        if settings.masked_content not in ("fill", "original"):
            raise ModelError(f"masked content {settings.masked_content!r} is for SD's own loop; {family.label} starts "
                             "from the window's pixels: fill or original")
    return FoundModel(family, kind, where)


def _pipeline_family(kind: str, where: Path | str, settings: DiffusionSettings) -> Family:
    """A diffusers folder or a hub id, by its model_index.json (and unet/config.json)."""
    from canvas.painters.diffusion.loading import _model_index

    if kind == "folder":
        assert isinstance(where, Path)
        found = recognise_folder(where)
        if found is not None:
            return found
    index = _model_index(where, settings)  # the folder's or the cached hub model's; errors in one line
    found = recognise_index(index)
    if found is not None:
        return found
    name = str(index.get("_class_name", "?"))
    if not_painted_index(index):
        raise ModelError(f"{settings.model}: {not_painted_index(index)}")
    if "unet" in index:  # another SD pipeline's folder (its components load into the inpainting one)
        return FAMILIES["sdxl" if "XL" in name else "sd1"]
    raise ModelError(f"{settings.model}: a {name} is not a model of a family the painter knows "
                     f"({', '.join(f.label for f in FAMILIES.values())})")


def _file_family(path: Path, settings: DiffusionSettings) -> Family:
    """One file: a checkpoint or transformer by its tensor names; a GGUF transformer needs
    its --model-config folder (and the two must be of one family)."""
    config = _config_family(settings) if settings.model_config else None
    suffix = path.suffix.lower()
    if suffix == GGUF:
        if config is None:
            raise ModelError(f"{settings.model}: a GGUF file holds only the transformer: give --model-config DIR, "
                             "a diffusers folder of the same family (VAE, text encoders, tokenizers)")
        shapes = gguf_shapes(path)
        found = recognise_shapes(shapes)
        _refuse_unpainted(path, shapes)
    elif suffix == ".safetensors":
        try:
            shapes = safetensors_shapes(path)
        except HeaderError as exc:
            raise ModelError(f"{path}: not a readable .safetensors file: {exc}") from None
        found = recognise_shapes(shapes)
        _refuse_unpainted(path, shapes)
        if found is None:
            raise ModelError(f"{path}: not a model of a family the painter knows "
                             f"({', '.join(f.label for f in FAMILIES.values())})")
    else:  # .ckpt, .pt, .pth, .bin: pickled SD checkpoints, read by today's loader
        found = config if config is not None and config.own_loop else FAMILIES["sd1"]
    if found is None:
        found = config
    assert found is not None
    if config is not None and not (found.own_loop and config.own_loop) and found.key != config.key:
        raise ModelError(f"{path.name} is a {found.label} model but --model-config {settings.model_config} "
                         f"is a {config.label} folder: give a folder of the file's family")
    if not found.own_loop and config is None:
        raise ModelError(f"{settings.model}: the painter takes only the transformer from a {found.label} file: "
                         "give --model-config DIR, a diffusers folder of the same family (VAE, text encoders, tokenizers)")
    return found


def _refuse_unpainted(path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """A model that looks like a family's but that no pipeline paints: one line saying so."""
    if not_painted(shapes):
        raise ModelError(f"{path}: {not_painted(shapes)}")


def _config_family(settings: DiffusionSettings) -> Family:
    folder = Path(str(settings.model_config)).expanduser()
    if not (folder / "model_index.json").is_file():
        raise ModelError(f"--model-config {settings.model_config}: not a diffusers config folder (no model_index.json)")
    found = recognise_folder(folder)
    if found is None:
        index = json.loads((folder / "model_index.json").read_text())
        if isinstance(index, dict) and "unet" in index:
            return FAMILIES["sdxl" if "XL" in str(index.get("_class_name", "")) else "sd1"]
        if isinstance(index, dict) and not_painted_index(index):
            raise ModelError(f"--model-config {settings.model_config}: {not_painted_index(index)}")
        raise ModelError(f"--model-config {settings.model_config}: not a model of a family the painter knows")
    return found


def gguf_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape (PyTorch's order) of a GGUF file, from its header."""
    try:
        from gguf import GGUFReader
    except ModuleNotFoundError:
        raise ModelError("a GGUF model needs the gguf package: pip install gguf") from None
    try:
        reader = GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError, struct.error, ... on a damaged file
        from canvas.painters.diffusion.loading import first_line

        raise ModelError(f"{path}: not a readable GGUF file: {first_line(exc)}") from None
    # GGUF keeps dimensions innermost first; PyTorch outermost first.
    return {tensor.name: tuple(int(size) for size in reversed(tensor.shape.tolist())) for tensor in reader.tensors}
