"""Where the weights lie in a models folder: A1111's layout, ComfyUI's, or a plain folder.

`--models ~/stable-diffusion-webui`, `--models ~/ComfyUI`, their `models` folders, or any
folder of files: each becomes a list of Places, a folder and what it holds. A kind folder
says what its files are (`models/Lora` holds LoRAs); a plain folder leaves it to each
file's tensors. Folder names match whatever their case (macOS and Windows users rename).

    places("~/stable-diffusion-webui")   # [Place(.../models/Stable-diffusion, "model"), ..., Place(.../embeddings, "embedding")]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Kind folders under `models/`, A1111's and ComfyUI's; "model" folders hold checkpoints or
# diffusion models (and A1111's `<name>.vae.pt` beside them), as their tensors say.
KIND_FOLDERS = {
    "stable-diffusion": "model",  # A1111, Forge
    "checkpoints": "model",  # ComfyUI
    "diffusion_models": "model",  # ComfyUI
    "unet": "model",  # ComfyUI, older name of diffusion_models
    "lora": "lora",  # A1111
    "lycoris": "lora",  # A1111 before 1.5, LyCORIS extension
    "loras": "lora",  # ComfyUI
    "embeddings": "embedding",  # ComfyUI's models/embeddings, A1111's embeddings/ beside models/
    "vae": "vae",  # both
}
# What each kind folder's files may be: a file whose tensors say otherwise keeps the folder's
# kind (the first here) but no family.
ACCEPTS = {
    "model": ("checkpoint", "diffusion_model", "vae"),
    "lora": ("lora",),
    "embedding": ("embedding",),
    "vae": ("vae",),
}
DEFAULT_KIND = {"model": "checkpoint", "lora": "lora", "embedding": "embedding", "vae": "vae"}


@dataclass(frozen=True)
class Place:
    folder: Path  # names are relative to it
    holds: str | None  # "model", "lora", "embedding", "vae"; None: a plain folder, each file's tensors decide
    recursive: bool = True  # False: only the files directly in it


def places(root: Path) -> list[Place]:
    """The folders to scan under `root`, with what each holds."""
    kind_folders = _kind_folders(root / "models") or _kind_folders(root)
    if not kind_folders:
        return [Place(root, None)]
    found = list(kind_folders)
    # Files lying loose beside the kind folders (a folder of checkpoints with a `lora/` in
    # it) are read for what they are; the subfolders that are not kind folders are not
    # (ComfyUI's controlnet/, upscale_models/, text_encoders/ hold nothing of ours).
    found.append(Place(kind_folders[0].folder.parent, None, recursive=False))
    # A1111 keeps embeddings beside `models/`, not in it: in the root given, or beside the
    # `models` folder given.
    for beside in (root / "embeddings", root.parent / "embeddings" if root.name.lower() == "models" else None):
        if beside is not None and beside.is_dir() and all(place.folder != beside for place in found):
            found.append(Place(beside, "embedding"))
    return found


def _kind_folders(models: Path) -> list[Place]:
    try:
        children = sorted(models.iterdir())
    except OSError:
        return []
    return [Place(child, KIND_FOLDERS[child.name.lower()]) for child in children
            if child.name.lower() in KIND_FOLDERS and child.is_dir()]
