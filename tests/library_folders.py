"""Models folders laid out as A1111's and ComfyUI's, holding the tiny models (tiny_models.py)
and tiny LoRAs (tiny_loras.py), for the tests of models per job and LoRAs.

    root = a1111_folder(tiny, tmp_path / "webui")
    # models/Stable-diffusion/{sd15, sd15-plain, xl/tiny-xl} (diffusers folders), sd15-file (one
    # original-layout .safetensors), models/Lora/{ink, styles/kohya-ink, xl-ink}
    root = comfy_folder(tiny, tmp_path / "ComfyUI")
    # models/checkpoints/{sd15, tiny-xl}, models/loras/{ink, xl-ink}
    root = small_a1111_folder(tiny, tmp_path / "webui")
    # models/Stable-diffusion/{sd15, sd15-plain}, models/Lora/ink: SD 1.x only, quick to make
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_loras import save_diffusers_lora, save_kohya_lora
from tiny_models import TinyModels


def a1111_folder(tiny: TinyModels, root: Path) -> Path:
    checkpoints = root / "models" / "Stable-diffusion"
    _copy(tiny.folder("sd-inpaint"), checkpoints / "sd15")
    _copy(tiny.folder("sd"), checkpoints / "sd15-plain")
    _copy(tiny.folder("sdxl-inpaint"), checkpoints / "xl" / "tiny-xl")
    if not (checkpoints / "sd15-file.safetensors").exists():
        shutil.copy(tiny.single_file("sd-inpaint"), checkpoints / "sd15-file.safetensors")
    loras = root / "models" / "Lora"
    _lora(tiny, "ink", loras / "ink.safetensors", save_diffusers_lora)
    _lora(tiny, "kohya-ink", loras / "styles" / "kohya-ink.safetensors", save_kohya_lora)
    _lora(tiny, "xl-ink", loras / "xl-ink.safetensors", lambda folder, path: save_diffusers_lora(folder, path, text=False),
          kind="sdxl")
    return root


def small_a1111_folder(tiny: TinyModels, root: Path) -> Path:
    checkpoints = root / "models" / "Stable-diffusion"
    _copy(tiny.folder("sd-inpaint"), checkpoints / "sd15")
    _copy(tiny.folder("sd"), checkpoints / "sd15-plain")
    _lora(tiny, "ink", root / "models" / "Lora" / "ink.safetensors", save_diffusers_lora)
    return root


def comfy_folder(tiny: TinyModels, root: Path) -> Path:
    _copy(tiny.folder("sd-inpaint"), root / "models" / "checkpoints" / "sd15")
    _copy(tiny.folder("sdxl-inpaint"), root / "models" / "checkpoints" / "tiny-xl")
    _lora(tiny, "ink", root / "models" / "loras" / "ink.safetensors", save_diffusers_lora)
    _lora(tiny, "xl-ink", root / "models" / "loras" / "xl-ink.safetensors",
          lambda folder, path: save_diffusers_lora(folder, path, text=False), kind="sdxl")
    return root


def _copy(source: Path, target: Path) -> None:
    if not target.exists():
        shutil.copytree(source, target)


def _lora(tiny: TinyModels, name: str, target: Path, save, kind: str = "sd-inpaint") -> None:
    """Each LoRA made once per session (peft is slow to start), copied where it is wanted."""
    made = tiny.root / "loras" / f"{name}.safetensors"
    if not made.is_file():
        save(tiny.folder(kind), made)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copy(made, target)


# Fixtures for the test modules that import them: `from library_folders import tiny, webui, comfy`.


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


@pytest.fixture(scope="module")
def webui(tmp_path_factory, tiny) -> Path:
    return a1111_folder(tiny, tmp_path_factory.mktemp("webui"))


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, tiny) -> Path:
    return comfy_folder(tiny, tmp_path_factory.mktemp("ComfyUI"))
