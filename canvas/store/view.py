"""What a level shows: fine(L) over coarser authored content, upsampled.

view(L) = fine(L) OVER up(coarse(L + 1)), with coarse(M) = own(M) OVER up(coarse(M + 1))
up to the highest level with own content, and ``up`` nearest-neighbour (see ``pixels``).

This is the spec's "fine(L) over upsampled view(L + 1)" with one refinement: the coarser
layers contribute only content *authored* at coarser levels. view(L + 1) also holds the
downsampled copy of fine(L) itself, which would show under fine(L), blocky and
half-transparent, around every edge of finer content, and a read at level 0 would no
longer round-trip. Content authored at a coarse level shows wherever finer content is
missing, and is hidden where finer content is known, exactly as before.
"""

from __future__ import annotations

import numpy as np

from canvas.store.layers import OWN, Layers
from canvas.store.pixels import over, upsample
from canvas.store.pyramid import fine_revision, read_fine
from canvas.store.tiles import TILE, tile_rect
from tiler.rect import Rect


def read_view(layers: Layers, level: int, rect: Rect, top: int, extent: Rect | None) -> np.ndarray:
    """view(level) over ``rect``, as a fresh (h, w, 4) uint8 array."""
    out = read_fine(layers, level, rect, top, extent)
    own = layers.own_bounds()
    coarser = [
        m for m in sorted(own, reverse=True) if m > level and own[m].intersects(rect.to_level(level, m))
    ]
    if not coarser or out[..., 3].min(initial=255) == 255:
        return out
    acc, acc_level, acc_rect = None, 0, Rect(0, 0, 0, 0)
    for m in coarser:  # coarsest first
        rect_m = rect.to_level(level, m)
        pixels = layers.read_region(OWN, m, rect_m)
        if acc is not None:
            pixels = over(pixels, upsample(acc, acc_rect, acc_level - m, rect_m))
        acc, acc_level, acc_rect = pixels, m, rect_m
    return over(out, upsample(acc, acc_rect, acc_level - level, rect))


def view_revision(layers: Layers, level: int, tx: int, ty: int, top: int, extent: Rect | None) -> int:
    """The newest revision among every stored tile that view(level) tile (tx, ty) shows."""
    rev = fine_revision(layers, level, tx, ty, top, extent)
    area = tile_rect(tx, ty)
    for m, bounds in layers.own_bounds().items():
        if m <= level:
            continue
        under = area.to_level(level, m).intersect(bounds)
        for x, y in under.tiles(TILE):
            rev = max(rev, layers.rev(OWN, m, x, y))
    return rev


def bounds(layers: Layers, level: int) -> Rect:
    """The bbox at ``level`` of everything visible there: every own level, moved to ``level``.

    Exact: downsampling keeps any known pixel visible (alpha rounds up) and nearest
    upsampling covers exactly the finer pixels of a coarse one.
    """
    box = Rect(0, 0, 0, 0)
    for m, own in layers.own_bounds().items():
        box = box.union(own.to_level(m, level))
    return box
