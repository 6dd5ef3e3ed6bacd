"""What a weights file holds, read from its header without loading a tensor (and without torch).

A `.safetensors` file starts with 8 bytes of header length and a JSON header naming every
tensor with its dtype and shape: enough to tell a model's family, a LoRA from a checkpoint,
or an SD 1.x embedding from an SDXL one, in a millisecond for a file of any size.

    shapes = safetensors_shapes(Path("flux1-fill-dev.safetensors"))
    shapes["img_in.weight"]   # (3072, 384)
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Mapping

Shapes = Mapping[str, tuple[int, ...]]
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit: a larger "header" is not one


class HeaderError(ValueError):
    """The file is not a readable .safetensors file."""


def safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file (tensor name -> dtype, shape, offsets; and
    `__metadata__`, text the writer chose to keep)."""
    try:
        with open(path, "rb") as file:
            prefix = file.read(8)
            if len(prefix) != 8:
                raise HeaderError(f"{path}: too short to be a .safetensors file")
            (length,) = struct.unpack("<Q", prefix)
            if not 2 <= length <= MAX_HEADER:
                raise HeaderError(f"{path}: not a .safetensors file (header of {length} bytes)")
            raw = file.read(length)
    except OSError as exc:
        raise HeaderError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(raw) != length:
        raise HeaderError(f"{path}: truncated .safetensors header")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HeaderError(f"{path}: not a .safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise HeaderError(f"{path}: not a .safetensors file (its header is not a JSON object)")
    return header


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, for every tensor of a .safetensors file."""
    header = safetensors_header(path)
    shapes: dict[str, tuple[int, ...]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list):
            raise HeaderError(f"{path}: not a .safetensors file (tensor {name!r} has no shape)")
        shapes[name] = tuple(int(size) for size in entry["shape"])
    return shapes


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The header's `__metadata__` (kohya's trainers keep `ss_base_model_version` there)."""
    metadata = safetensors_header(path).get("__metadata__") or {}
    return {str(key): str(value) for key, value in metadata.items()} if isinstance(metadata, dict) else {}
