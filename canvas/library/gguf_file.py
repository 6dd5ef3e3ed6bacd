"""Tensor names and shapes of a GGUF file (a quantised transformer, as ComfyUI-GGUF and
diffusers load them), read with the `gguf` package's pure-Python reader.

The reader maps the file and parses only its header and tensor table; GGUF lists each
tensor's dimensions innermost first, so they are reversed here into torch's order (a
FLUX `img_in.weight` is (3072, 64) as in the .safetensors file it was converted from).

    shapes, architecture = gguf_shapes(Path("flux1-dev-Q4_K_S.gguf"))   # ({...}, "flux")
"""

from __future__ import annotations

from pathlib import Path

from canvas.library.errors import MissingPackage


class GGUFError(ValueError):
    """Not a readable GGUF file; the message says why."""


def gguf_shapes(path: Path) -> tuple[dict[str, tuple[int, ...]], str | None]:
    """(tensor name -> shape in torch's order, the file's `general.architecture` or None)."""
    try:
        from gguf import GGUFReader
    except ImportError:
        raise MissingPackage(f"{path}: reading GGUF files needs the gguf package (pip install gguf)") from None
    try:
        reader = GGUFReader(path)
    except OSError as exc:
        raise GGUFError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - the reader raises bare ValueErrors and worse on bad files
        raise GGUFError(f"{path}: not a GGUF file ({type(exc).__name__}: {exc})"[:300]) from None
    shapes = {tensor.name: tuple(int(n) for n in reversed(tensor.shape.tolist())) for tensor in reader.tensors}
    field = reader.fields.get("general.architecture")
    architecture = bytes(field.parts[field.data[0]]).decode("utf-8", "replace") if field is not None else None
    return shapes, architecture
