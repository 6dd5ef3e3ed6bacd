"""What many tests share that is not a fixture: real photos (scikit-image ships them)
and test painters.

Imported by name (`from pictures import photo`), never through `conftest`: with a
conftest.py in tests/browser too, `import conftest` would find whichever loaded last.
"""

from __future__ import annotations

import numpy as np

from canvas.painters import Choice
from canvas.painters.echo import EchoPainter  # noqa: F401 - shared with the tests


def photo(name: str = "astronaut", size: int | None = 512) -> np.ndarray:
    """A real photograph as RGB uint8, cropped to size x size from its top-left corner."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    image = image[..., :3]
    return np.ascontiguousarray(image if size is None else image[:size, :size])


def half_masked(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut at `size` px with its right half masked: one window for the painters' tests."""
    image = photo("astronaut", size)
    mask = np.zeros((size, size), bool)
    mask[:, size // 2 :] = True
    return image, mask


def rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


class CastPainter:
    """Repaints everything it is given with a colour cast, as diffusion models drift.

    The masked part arrives prefilled by the tiler (edge extension); the cast lands on it
    and on the repainted band alike, which is what colour matching has to undo.
    """

    name = "cast"
    repaints_band = True

    def __init__(self, shift=(0, -10, 25), gain: float = 0.85) -> None:
        self.shift = np.array(shift, np.float32)
        self.gain = gain

    def describe(self) -> dict:
        return {"painter": self.name}

    def paint(self, image, mask, request, progress, cancel):
        return [np.clip(image * np.float32(self.gain) + self.shift, 0, 255).astype(np.uint8)]


class PalettePainter:
    """Paints the masked pixels one flat colour named by its `palette` choice (a `Choice`
    option, as the diffusion painter's scheduler is), at a native window of 640 px: what
    a job chose is visible in its pixels, and what it left out gets the painter's window."""

    name = "palette"
    repaints_band = True
    native_window = 640
    COLOURS = {"warm": (200, 90, 40), "cool": (40, 90, 200), "grey": (128, 128, 128)}
    OPTIONS = {"palette": Choice("Palette", tuple(COLOURS), "warm")}

    def describe(self) -> dict:
        return {"painter": self.name, "palette": self.OPTIONS["palette"].default}

    def paint(self, image, mask, request, progress, cancel):
        rgb = image.copy()
        rgb[mask] = self.COLOURS[request.options.get("palette", self.OPTIONS["palette"].default)]
        return [rgb] * max(1, request.candidates)
