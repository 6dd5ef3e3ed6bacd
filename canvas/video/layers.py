"""Every authored level of a canvas, ready to be drawn at any scale: the frames of a zoom
video are composed from them, coarsest first and sharpest last.

Each level keeps its own content (authored there or downsampled from finer levels, never
upsampled from coarser ones) over the area of everything at or below it, with a mip
chain for drawing it small without shimmer. Finer levels fade into coarser ones over
their last `fade` px (as the browser shows them, `Store.DISPLAY_FADE`), so no frame shows
a line where a level's detail ends. A frame resamples each level it needs once, with a
bilinear affine map of sub-pixel accuracy: the camera moves smoothly, never by whole
source pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from canvas.store import Store
from canvas.video.path import Camera
from tiler.masks import distance_l1
from tiler.rect import Rect

MIN_MIP = 8  # px: no mip below this side


@dataclass
class Level:
    level: int
    rect: Rect  # at its level
    mips: list[Image.Image]  # RGBA, each half the one before
    solid: Rect | None  # level-0 box it covers opaquely, if any: coarser levels hide under it

    def world(self) -> tuple[float, float, float, float]:
        s = 2.0**self.level
        return self.rect.x * s, self.rect.y * s, self.rect.x1 * s, self.rect.y1 * s


class LevelStack:
    def __init__(self, store: Store, fade: int = Store.DISPLAY_FADE) -> None:
        authored = store.authored_bounds()
        if not authored:
            raise ValueError("the canvas is empty: there is nothing to zoom through")
        self.levels: list[Level] = []
        finest = min(authored)
        coarsest = max(authored)
        for level in sorted(authored):
            region = Rect(0, 0, 0, 0)
            for m, box in authored.items():
                if m <= level:
                    region = region.union(box.to_level(m, level))
            rgba = store.read_fine(level, region)
            if level != coarsest:
                _fade_edges(rgba, fade)
            self.levels.append(Level(level, region, _mips(rgba), _solid(rgba, region, level, fade)))
        self.inner = authored[finest].to_level(finest, 0)  # level 0: where the zoom starts
        self.outer = self.levels[-1].rect.to_level(coarsest, 0)

    def render(self, camera: Camera, width: int, height: int) -> np.ndarray:
        """The frame `camera` shows, as (height, width, 3) uint8 RGB."""
        frame = Image.new("RGBA", (width, height), (0, 0, 0, 255))
        px = camera.w / width  # level-0 px per output px
        needed = len(self.levels)
        for i, level in enumerate(self.levels):  # the finest level that hides all coarser ones
            s = level.solid
            if s is not None and s.x <= camera.x and s.y <= camera.y and camera.x + camera.w <= s.x1 and camera.y + camera.h <= s.y1:
                needed = i + 1
                break
        for level in reversed(self.levels[:needed]):  # coarsest first, the sharpest last
            self._draw(frame, level, camera, px)
        return np.asarray(frame.convert("RGB"))

    def _draw(self, frame: Image.Image, level: Level, camera: Camera, px: float) -> None:
        x0, y0, x1, y1 = level.world()
        width, height = frame.size
        # the level's box on the frame, in output px, whole pixels around it
        left = max(0, math.floor((x0 - camera.x) / px))
        top = max(0, math.floor((y0 - camera.y) / px))
        right = min(width, math.ceil((x1 - camera.x) / px))
        bottom = min(height, math.ceil((y1 - camera.y) / px))
        if right <= left or bottom <= top:
            return
        # the mip whose pixels are 1 to 2 output px, or the finest if they are larger
        shrink = px / 2.0**level.level
        mip = min(max(0, math.floor(math.log2(shrink))) if shrink >= 2 else 0, len(level.mips) - 1)
        source = level.mips[mip]
        unit = 2.0 ** (level.level + mip)  # level-0 px per source px
        scale = px / unit
        ox = (camera.x + left * px) / unit - level.rect.x / 2**mip
        oy = (camera.y + top * px) / unit - level.rect.y / 2**mip
        part = source.transform((right - left, bottom - top), Image.AFFINE, (scale, 0, ox, 0, scale, oy),
                                resample=Image.BILINEAR)
        frame.alpha_composite(part, (left, top))


def _mips(rgba: np.ndarray) -> list[Image.Image]:
    mips = [Image.fromarray(rgba, "RGBA")]
    while min(mips[-1].size) >= 2 * MIN_MIP:
        # premultiplied for the average, so empty pixels do not darken the edges
        mips.append(mips[-1].convert("RGBa").reduce(2).convert("RGBA"))
    return mips


def _fade_edges(rgba: np.ndarray, fade: int) -> None:
    """Ramp alpha from 0 at the content's edge (or the image's) to full `fade` px inside."""
    known = np.zeros((rgba.shape[0] + 2, rgba.shape[1] + 2), bool)
    known[1:-1, 1:-1] = rgba[..., 3] > 0
    distance = distance_l1(~known)[1:-1, 1:-1]
    ramp = np.minimum(distance, fade + 1).astype(np.float32) / (fade + 1)
    rgba[..., 3] = np.rint(rgba[..., 3] * ramp).astype(np.uint8)


def _solid(rgba: np.ndarray, region: Rect, level: int, fade: int) -> Rect | None:
    """The level-0 box inside `region` where the level is fully opaque, if it is."""
    inner = Rect(0, 0, region.w, region.h).grow(-(fade + 1))
    if inner.empty or rgba[inner.slices][..., 3].min() < 255:
        return None
    return inner.translate(region.x, region.y).to_level(level, 0)
