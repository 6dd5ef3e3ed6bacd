"""One thing the library found: a checkpoint, a diffusion model, a LoRA, an embedding or a VAE.

An entry is what a scan learnt without loading a weight: its name (what a client sends),
its kind, its family (a key of the painter's FAMILIES table, or None when the file does
not tell), where it is, how big it is and, once known, A1111's hash of it.

    entry = library.find("lora", "styles/ink")
    entry.family, entry.size, entry.short_hash      # ("sdxl", 228_454_712, "a1b2c3d4e5f6")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canvas.painters.diffusion.families import FAMILIES

KINDS = ("checkpoint", "diffusion_model", "lora", "embedding", "vae")
# How many hex digits of the hash A1111 shows for each kind: "Model hash" and "VAE hash"
# are 10 (sd_models.py, sd_vae.py), a LoRA's and an embedding's shorthash 12 (network.py,
# textual_inversion.py).
SHORT_HASH = {"checkpoint": 10, "diffusion_model": 10, "vae": 10, "lora": 12, "embedding": 12}
FORMATS = ("safetensors", "pickle", "gguf", "diffusers")


@dataclass(frozen=True)
class Entry:
    name: str  # A1111-style: the path under its kind's folder, '/' separated, no extension; unique per kind
    kind: str  # one of KINDS
    family: str | None  # a key of FAMILIES, or None when the tensors do not tell
    path: Path  # absolute; the server's to open, never sent to a client
    format: str  # one of FORMATS: how the weights are stored
    size: int  # bytes (a diffusers folder: all its files)
    mtime: float  # seconds since the epoch (a diffusers folder: its newest file)
    root: Path  # the models folder (`--models DIR`) it was found under
    # The full hex digest A1111 hashes this kind by (a .safetensors LoRA: the addnet hash of
    # its data; everything else: the file's sha256); None until computed (Library.hash),
    # and always None for a diffusers folder, which A1111 does not hash.
    sha256: str | None = None

    @property
    def short_hash(self) -> str | None:
        """The hash as A1111 writes it in a PNG's parameters ("Model hash", "Lora hashes")."""
        return self.sha256[: SHORT_HASH[self.kind]] if self.sha256 else None

    @property
    def family_label(self) -> str | None:
        return FAMILIES[self.family].label if self.family in FAMILIES else None

    def as_dict(self, paths: bool = False) -> dict[str, Any]:
        """JSON-ready, as a client may see it; `paths`: with where it lies (the command line's
        --json: never send paths to a client, which names entries and nothing else)."""
        shown = {"name": self.name, "kind": self.kind, "family": self.family, "label": self.family_label,
                 "format": self.format, "size": self.size, "mtime": self.mtime, "hash": self.short_hash,
                 "sha256": self.sha256}
        return {**shown, "path": str(self.path), "root": str(self.root)} if paths else shown


@dataclass(frozen=True)
class Skipped:
    """A weights file the scan could not use, and why (listed, so nobody wonders where it went)."""

    path: Path
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}
