"""A1111's hashes of a weights file, as its `modules/hashes.py` computes them.

- checkpoints, diffusion models, VAEs and embeddings: sha256 of the whole file ("Model
  hash" is its first 10 hex digits, "VAE hash" too; an embedding's shorthash its first 12);
- a .safetensors LoRA: the "addnet" hash (kohya's): sha256 of the bytes after the header,
  so editing the metadata does not change it; a LoRA's shorthash is its first 12 digits.
  A pickled LoRA is hashed whole, as A1111 does.

    file_sha256(Path("model.safetensors"))[:10]       # the PNG's "Model hash"
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

BLOCK = 1024 * 1024  # A1111's read size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def addnet_sha256(path: Path) -> str:
    """kohya's hash of a .safetensors file: its data after the 8-byte length and the header."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        prefix = file.read(8)
        (length,) = struct.unpack("<Q", prefix) if len(prefix) == 8 else (0,)
        file.seek(8 + length)
        while chunk := file.read(BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_method(kind: str, format: str) -> str | None:
    """Which hash A1111 keeps for an entry: "addnet", "sha256", or None (diffusers folders)."""
    if format == "diffusers":
        return None
    return "addnet" if kind == "lora" and format == "safetensors" else "sha256"


def compute(path: Path, method: str) -> str:
    return addnet_sha256(path) if method == "addnet" else file_sha256(path)
