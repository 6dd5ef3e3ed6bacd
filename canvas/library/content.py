"""What one weights file holds, from its tensor names and shapes alone: its kind and family.

This is the only place the library reads a file's contents (a .safetensors header, a
PyTorch pickle's structure, a GGUF tensor table), and the scan cache keeps its answer by
path, size and mtime, so an unchanged file is read once.

    read_content(Path("ink.safetensors"))   # Content(kind="lora", family="sdxl", format="safetensors")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from canvas.library.errors import MissingPackage
from canvas.library.gguf_file import GGUFError, gguf_shapes
from canvas.library.loras import is_adapter, lora_family
from canvas.library.pickled import PickleError, pickle_shapes
from canvas.painters.diffusion.families import FAMILIES, not_painted, recognise_shapes
from canvas.painters.diffusion.headers import HeaderError, Shapes, safetensors_header

SAFETENSORS = (".safetensors", ".sft")
PICKLES = (".ckpt", ".pt", ".pth", ".bin")
GGUF = (".gguf",)
EXTENSIONS = SAFETENSORS + PICKLES + GGUF

# Keys beside the denoiser that make a file a whole checkpoint (VAE, text encoders), in
# A1111's, ComfyUI's and Stability's layouts.
CHECKPOINT_PARTS = ("first_stage_model.", "cond_stage_model.", "conditioner.", "vae.", "text_encoders.", "text_encoder.")
# ComfyUI-GGUF's `general.architecture`, for the families whose tensors do not say.
GGUF_ARCHITECTURES = {"flux": "flux", "sd3": "sd3", "sdxl": "sdxl", "sd1": "sd1", "chroma": "chroma",
                      "qwen_image": "qwen-image", "lumina2": "z-image", "flux2": "flux2-klein"}
VAE_PREFIXES = ("", "first_stage_model.", "vae.")


@dataclass(frozen=True)
class Content:
    kind: str | None  # checkpoint, diffusion_model, lora, embedding, vae; None: nothing we know
    family: str | None  # a FAMILIES key, or None
    format: str  # safetensors, pickle, gguf
    # A .safetensors LoRA's hash as its trainer stored it (kohya's `sshs_model_hash`): A1111
    # takes it before hashing the file itself.
    stored_hash: str | None = None
    reason: str | None = None  # why kind is None, in one line

    def as_dict(self) -> dict:
        return {"kind": self.kind, "family": self.family, "format": self.format, "stored_hash": self.stored_hash,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Content":
        return cls(kind=data.get("kind"), family=data.get("family"), format=str(data.get("format", "")),
                   stored_hash=data.get("stored_hash"), reason=data.get("reason"))


class Unreadable(ValueError):
    """The file is not a weights file we can read at all (damaged, or something else), or
    not without a missing package (`lasting` False: worth trying again next scan)."""

    def __init__(self, message: str, lasting: bool = True) -> None:
        super().__init__(message)
        self.lasting = lasting


def read_content(path: Path) -> Content:
    """Kind and family of one weights file; Unreadable if it cannot be read as its extension says."""
    suffix = path.suffix.lower()
    try:
        if suffix in SAFETENSORS:
            header = safetensors_header(path)
            metadata = header.get("__metadata__") if isinstance(header.get("__metadata__"), dict) else {}
            shapes = {name: tuple(int(n) for n in entry["shape"]) for name, entry in header.items()
                      if name != "__metadata__" and isinstance(entry, dict) and isinstance(entry.get("shape"), list)}
            return classify(shapes, "safetensors", {str(k): str(v) for k, v in metadata.items()})
        if suffix in PICKLES:
            return classify(_state_dict(pickle_shapes(path)), "pickle")
        if suffix in GGUF:
            shapes, architecture = gguf_shapes(path)
            content = classify(shapes, "gguf")
            if not_painted(shapes):  # refused by its tensors (FLUX.2 dev): its architecture does not make it Klein
                return content
            family = GGUF_ARCHITECTURES.get(architecture) if content.kind is None else content.family
            if content.kind not in (None, "checkpoint", "diffusion_model") or family is None:
                return content
            if not FAMILIES[family].gguf:
                return Content(None, family, "gguf", reason=f"diffusers cannot load {FAMILIES[family].label} from a GGUF file")
            return Content("diffusion_model", family, "gguf")  # a GGUF file holds the denoiser alone
    except (HeaderError, PickleError, GGUFError) as exc:
        raise Unreadable(str(exc)) from None
    except MissingPackage as exc:
        raise Unreadable(str(exc), lasting=False) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreadable(f"{path}: a malformed header ({type(exc).__name__})") from None
    raise Unreadable(f"{path}: not a weights file ({', '.join(EXTENSIONS)})")


def _state_dict(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """A checkpoint pickle keeps its weights under `state_dict` (Lightning's layout): unwrap it."""
    inner = {key[len("state_dict."):]: shape for key, shape in shapes.items() if key.startswith("state_dict.")}
    return inner or dict(shapes)


def classify(shapes: Shapes, format: str, metadata: Mapping[str, str] | None = None) -> Content:
    """Kind and family from tensor names and shapes (and a LoRA's metadata)."""
    metadata = metadata or {}
    if not shapes:
        return Content(None, None, format, reason="it holds no tensors")
    embedding = embedding_family(shapes)
    if embedding is not None:
        return Content("embedding", embedding or None, format)
    if is_adapter(shapes):
        return Content("lora", lora_family(shapes, metadata), format, stored_hash=metadata.get("sshs_model_hash") or None)
    found = recognise_shapes(shapes) or recognise_shapes({"model.diffusion_model." + k: v for k, v in shapes.items()})
    refused = not_painted(shapes)
    if refused is not None:  # a model the painter would refuse (FLUX.2 dev, scaled fp8): skipped, saying why
        return Content(None, found.key if found is not None else None, format, reason=refused)
    if found is not None:
        whole = any(key.startswith(CHECKPOINT_PARTS) for key in shapes)
        return Content("checkpoint" if whole else "diffusion_model", found.key, format)
    vae = vae_family(shapes)
    if vae is not None:
        return Content("vae", vae or None, format)
    return Content(None, None, format, reason="not a model, LoRA, embedding or VAE of a family the painter knows")


def embedding_family(shapes: Shapes) -> str | None:
    """A textual-inversion embedding's family ("" when it is one but its width says nothing),
    or None when the file is not an embedding. A1111 reads `string_to_param` (.pt),
    `emb_params` (.safetensors), `clip_l`/`clip_g` (SDXL) and a lone vector (diffusers)."""
    keys = set(shapes)
    if keys and keys <= {"clip_l", "clip_g"}:
        return "sdxl" if keys == {"clip_l", "clip_g"} else ""
    vectors = [shape for key, shape in shapes.items() if key == "emb_params" or key.startswith("string_to_param.")]
    if not vectors and len(shapes) == 1:
        (key, shape), = shapes.items()
        if "." not in key and 1 <= len(shape) <= 2:  # diffusers' learned_embeds: {"<token>": vector}
            vectors = [shape]
    if not vectors:
        return None
    return {768: "sd1", 1024: "sd2"}.get(vectors[0][-1] if vectors[0] else 0, "")


def vae_family(shapes: Shapes) -> str | None:
    """A VAE's family ("" when its architecture is shared by several), or None if not a VAE.
    The latent width decides only where one family has it: 32 is FLUX.2's; the 3D VAE is
    Qwen-Image's; 4 (SD 1.x, 2.x, XL) and 16 (FLUX.1, SD 3, Z-Image) are shared."""
    for prefix in VAE_PREFIXES:
        conv = shapes.get(prefix + "decoder.conv_in.weight")
        if conv is not None and prefix + "encoder.conv_in.weight" in shapes:
            if len(conv) == 5:
                return "qwen-image"
            return "flux2-klein" if len(conv) > 1 and conv[1] == 32 else ""
    if "decoder.head.2.weight" in shapes and "encoder.conv1.weight" in shapes:  # Wan's layout: Qwen-Image's VAE
        return "qwen-image"
    return None

