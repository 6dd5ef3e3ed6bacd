"""What a level shows: fine(L) over coarser authored content, upsampled.

view(L) = fine(L) OVER up(coarse(L + 1)), with coarse(M) = own(M) OVER up(coarse(M + 1))
up to the highest level with own content, and ``up`` nearest-neighbour (see ``pixels``);
as shown (``fade``), the last ``up`` interpolates colours and finer edges fade.

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
from canvas.store.pixels import over, upsample, upsample_smooth
from canvas.store.pyramid import fine_revision, read_fine
from canvas.store.tiles import TILE, tile_rect
from tiler.masks import distance_l1
from tiler.rect import Rect


# px (at the level read) over which finer content fades into coarser content under it:
# what the browser and the zoom video show, so a zoom-out's sharp original does not end
# in a hard line inside the softer ring painted around it at a coarser level. Jobs and
# exports read with 0: the canvas itself is never blended.
DISPLAY_FADE = 32


def read_view(layers: Layers, level: int, rect: Rect, top: int, extent: Rect | None, fade: int = 0) -> np.ndarray:
    """view(level) over ``rect``, as a fresh (h, w, 4) uint8 array; ``fade``: see DISPLAY_FADE."""
    own = layers.own_bounds()
    coarser = [
        m for m in sorted(own, reverse=True) if m > level and own[m].intersects(rect.to_level(level, m))
    ]
    if fade and coarser:
        # The fade needs to know how far each pixel is from the edge of the finer
        # content, and that edge may lie just outside the rect.
        wide = rect.grow(fade)
        fine = read_fine(layers, level, wide, top, extent)
        out = fine[rect.relative_to(wide).slices]
    else:
        out = read_fine(layers, level, rect, top, extent)
    if not coarser or out[..., 3].min(initial=255) == 255 and not fade:
        return out
    acc, acc_level, acc_rect = None, 0, Rect(0, 0, 0, 0)
    margin = 1 if fade else 0  # a smooth upsample blends with the next coarse pixel
    for m in coarser:  # coarsest first
        rect_m = rect.to_level(level, m).grow(margin)
        pixels = layers.read_region(OWN, m, rect_m)
        if acc is not None:
            pixels = over(pixels, upsample(acc, acc_rect, acc_level - m, rect_m))
        acc, acc_level, acc_rect = pixels, m, rect_m
    # Shown (fade), coarse content is soft under a finer zoom instead of blocky.
    under = (upsample_smooth if fade else upsample)(acc, acc_rect, acc_level - level, rect)
    if fade:
        out = _fade_edges(fine, rect.relative_to(wide), under, fade)
    return over(out, under)


def _fade_edges(fine: np.ndarray, inner: Rect, under: np.ndarray, fade: int) -> np.ndarray:
    """``fine[inner]`` with its alpha ramped from 0 at the edge of its content to full
    ``fade`` px inside, where ``under`` has content to show through (elsewhere, such as
    the border of the whole canvas, edges stay sharp)."""
    known = fine[..., 3] > 0
    out = fine[inner.slices]
    if known.all() or not known.any():
        return out
    distance = distance_l1(~known)[inner.slices]  # 1 next to an empty pixel
    ramp = np.minimum(distance, fade + 1).astype(np.float32) / (fade + 1)
    ramp[under[..., 3] == 0] = 1.0
    if ramp.min() >= 1.0:
        return out
    out = out.copy()
    out[..., 3] = np.rint(out[..., 3] * ramp).astype(np.uint8)
    return out


def view_revision(layers: Layers, level: int, tx: int, ty: int, top: int, extent: Rect | None, fade: int = 0) -> int:
    """The newest revision among every stored tile that view(level) tile (tx, ty) shows.

    With a ``fade``, the finer content within ``fade`` px of the tile counts too (its
    edge shapes the tile's fade), where coarser content lies under the tile.
    """
    area = tile_rect(tx, ty)
    rev = fine_revision(layers, level, tx, ty, top, extent)
    under_any = False
    for m, bounds in layers.own_bounds().items():
        if m <= level:
            continue
        under = area.to_level(level, m).intersect(bounds)
        for x, y in under.tiles(TILE):
            rev = max(rev, layers.rev(OWN, m, x, y))
            under_any = True
    if fade and under_any:
        for x, y in area.grow(fade).tiles(TILE):
            if (x, y) != (tx, ty):
                rev = max(rev, fine_revision(layers, level, x, y, top, extent))
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
