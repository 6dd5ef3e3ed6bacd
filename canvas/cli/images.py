"""Reading the user's images and masks with clear errors, and refusing image bombs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from canvas.cli.errors import UserError

MAX_SIDE = 16384  # px on either side of an input image
MAX_PIXELS = 64 * 1024 * 1024


def load_image(path: str | Path, what: str = "image") -> np.ndarray:
    """An RGBA uint8 array of the image at `path` (RGB images become fully opaque)."""
    image = _open(path, what)
    mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
    try:
        array = np.asarray(image.convert(mode))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot decode the {what}: {exc}") from None
    if mode == "RGB":
        array = np.dstack([array, np.full(array.shape[:2], 255, np.uint8)])
    return array


def load_mask(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A boolean mask: white (>= 128) marks pixels to repaint. Checked against `shape`."""
    image = _open(path, "mask")
    try:
        if "A" in image.getbands():
            # A transparent pixel never asks for a repaint, whatever its colour.
            rgba = np.asarray(image.convert("RGBA"))
            gray = np.asarray(image.convert("L")).astype(np.uint16) * rgba[..., 3] // 255
        else:
            gray = np.asarray(image.convert("L"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot decode the mask: {exc}") from None
    mask = gray >= 128
    if shape is not None and mask.shape != shape:
        raise UserError(
            f"{path}: the mask is {mask.shape[1]}x{mask.shape[0]} px but the image is "
            f"{shape[1]}x{shape[0]} px; they must be the same size"
        )
    if not mask.any():
        raise UserError(f"{path}: the mask is empty (paint the pixels to repaint in white)")
    return mask


def _open(path: str | Path, what: str) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                raise UserError(
                    f"{path}: {width}x{height} px is too large; at most {MAX_SIDE} px a side "
                    f"and {MAX_PIXELS // 2**20} megapixels"
                )
            image.load()
    except UserError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{path}: not an image this tool can read ({what} expected)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path}: cannot read the {what}: {exc}") from None
    return image
