"""Tiles: the 256 x 256 RGBA unit of storage, the grid maths around them, their codec.

Tiles are stored raw, never PNG or zlib: encoding costs milliseconds a tile and would
sit on the hot path of every commit and every cold read. To keep the disk proportional
to what is painted, a tile is cropped to the bounding box of its known pixels
(alpha > 0), so the partial tiles around an unaligned window cost only what they hold.
The ``codec`` column names the format, so compression can come later without a
migration. A tile with no known pixel is never stored.
"""

from __future__ import annotations

import numpy as np

from tiler.rect import Rect, mask_bounds

TILE = 256
ALPHA1 = 1 << 24  # the smallest pixel word (see ``words``) with alpha > 0
CODEC_RAW_CROP = 0  # raw RGBA rows of the tile's alpha bbox (x0, y0, x1, y1 columns)

Bbox = tuple[int, int, int, int]  # x0, y0, x1, y1 inside the tile, half-open


def tile_rect(tx: int, ty: int) -> Rect:
    """The pixels of tile (tx, ty) in the coordinates of its level."""
    return Rect(tx * TILE, ty * TILE, TILE, TILE)


def empty_tile() -> np.ndarray:
    return np.zeros((TILE, TILE, 4), np.uint8)


def words(rgba: np.ndarray) -> np.ndarray:
    """An (h, w) little-endian uint32 view of (h, w, 4) RGBA, one word per pixel, no copy.

    Comparing and copying whole pixels as words is several times faster in numpy than
    on the four-byte trailing axis. Alpha is the high byte: alpha 0 is a word < ``ALPHA1``.
    """
    return rgba.view("<u4")[..., 0]


def alpha_bbox(tile: np.ndarray) -> Bbox | None:
    """The bbox of the pixels with alpha > 0, or None for an empty tile."""
    alpha = tile[..., 3]
    if alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any():
        return 0, 0, alpha.shape[1], alpha.shape[0]  # known pixels on all four edges
    box = mask_bounds(words(tile) >= ALPHA1)  # one compare per pixel, not a strided byte pass
    return None if box.empty else (box.x, box.y, box.x1, box.y1)


def encode(tile: np.ndarray, bbox: Bbox) -> tuple[int, np.ndarray]:
    """(codec, contiguous array of the bytes to store); bind the array as a BLOB directly."""
    x0, y0, x1, y1 = bbox
    return CODEC_RAW_CROP, np.ascontiguousarray(tile[y0:y1, x0:x1])


def decode(codec: int, bbox: Bbox, data: bytes) -> np.ndarray:
    """A read-only (256, 256, 4) uint8 tile; a full-tile bbox costs no copy."""
    if codec != CODEC_RAW_CROP:
        raise ValueError(f"unknown tile codec {codec}")
    x0, y0, x1, y1 = bbox
    crop = np.frombuffer(data, np.uint8).reshape(y1 - y0, x1 - x0, 4)
    if (x0, y0, x1, y1) == (0, 0, TILE, TILE):
        return crop
    tile = empty_tile()
    tile[y0:y1, x0:x1] = crop
    tile.flags.writeable = False
    return tile
