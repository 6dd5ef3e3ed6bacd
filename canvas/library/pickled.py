"""Tensor names and shapes of a PyTorch pickle (`.ckpt`, `.pt`, `.pth`, `.bin`), without torch.

`torch.save` writes a zip: `data.pkl` (the structure, tensors as references to storages)
beside one file per storage. Only `data.pkl` is read, by an unpickler that builds nothing
but dicts, lists and tensor shapes: any class the pickle names becomes an inert stand-in,
so a hostile file runs no code, and a 4 GB checkpoint is recognised from its ~100 KB of
structure. Files in torch's pre-1.6 format (not a zip) are loaded by torch itself, lazily
and with `weights_only=True`, when they are small enough (old embeddings); larger ones
are refused.

    shapes = pickle_shapes(Path("sd-v1-5.ckpt"))
    shapes["state_dict.model.diffusion_model.input_blocks.0.0.weight"]   # (320, 4, 3, 3)
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

from canvas.library.errors import MissingPackage

MAX_STRUCTURE = 64 * 2**20  # bytes of data.pkl: a checkpoint's is well under 1 MB
MAX_LEGACY = 64 * 2**20  # a pre-1.6 file torch loads whole: embeddings, not checkpoints


class PickleError(ValueError):
    """Not a readable PyTorch file; the message says why."""


class TensorShape(tuple):
    """A tensor, as far as the library cares: its shape."""


class _Inert:
    """Whatever class a pickle names: accepts any construction and state, keeps nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


def _rebuild_tensor(storage: Any, offset: Any, size: Any, *rest: Any) -> TensorShape:
    return TensorShape(int(n) for n in size) if isinstance(size, (tuple, list)) else TensorShape()


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data


def _rebuild_from_type(function: Any, new_type: Any, args: Any, state: Any) -> Any:
    return function(*args)  # a Parameter's tensor: `function` is one of ours


_KNOWN = {
    ("collections", "OrderedDict"): dict,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
}


class _ShapesUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return _KNOWN.get((module, name), _Inert)

    def persistent_load(self, pid: Any) -> Any:
        return None  # a storage: its bytes are never read


def pickle_structure(path: Path) -> Any:
    """What `torch.load` would return, with every tensor replaced by its TensorShape."""
    try:
        if not zipfile.is_zipfile(path):
            return _legacy(path)
        with zipfile.ZipFile(path) as archive:
            member = next((info for info in archive.infolist() if info.filename.endswith("data.pkl")), None)
            if member is None:
                raise PickleError(f"{path}: a zip without data.pkl is not a PyTorch file")
            if member.file_size > MAX_STRUCTURE:
                raise PickleError(f"{path}: its structure ({member.file_size} bytes) is too large to be a model's")
            raw = archive.read(member)
    except OSError as exc:
        raise PickleError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise PickleError(f"{path}: a damaged PyTorch file ({exc})") from None
    try:
        return _ShapesUnpickler(io.BytesIO(raw)).load()
    except Exception as exc:  # noqa: BLE001 - any malformed pickle is one reason, not a crash
        raise PickleError(f"{path}: not a PyTorch pickle ({type(exc).__name__})") from None


def _legacy(path: Path) -> Any:
    """torch's pre-1.6 format: only torch can read it; small files only, tensors as shapes."""
    if path.stat().st_size > MAX_LEGACY:
        raise PickleError(f"{path}: not a zip-format PyTorch file (re-save it with a recent torch, or as .safetensors)")
    try:
        import torch
    except ImportError:
        raise MissingPackage(f"{path}: an old-format PyTorch file: reading it needs torch") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise PickleError(f"{path}: not a PyTorch file torch can load safely ({type(exc).__name__})") from None

    def shapes(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return TensorShape(value.shape)
        if isinstance(value, dict):
            return {key: shapes(item) for key, item in value.items()}
        return value

    return shapes(loaded)


def pickle_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor of a PyTorch file by its dotted path in the structure: `state_dict.x.weight`,
    `string_to_param.*`."""
    found: dict[str, tuple[int, ...]] = {}
    _flatten(pickle_structure(path), "", found)
    return found


def _flatten(value: Any, prefix: str, found: dict[str, tuple[int, ...]]) -> None:
    if isinstance(value, TensorShape):
        found[prefix[:-1]] = tuple(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}{key}.", found)
