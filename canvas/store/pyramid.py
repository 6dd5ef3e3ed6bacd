"""The fine pyramid: content from levels <= L, kept up to date on write.

fine(0) = own(0); fine(L) = downsample2(fine(L - 1)) OVER own(L): finer content wins
where it is known, and coarse authored content shows through where it is not.

Levels 1..top are stored, and a commit recomputes only what it changed: the changed
rectangle of each tile, mapped to its parent tile, halves at every level, so a 512
window costs a few small tile updates per level. ``top`` is the first level (at least
``MIN_TOP``) where the whole extent of the canvas fits in one tile's size; above it
fine(L) is computed on read from fine(top), clipped to the extent, which is at most a
few tiles whatever the level.
"""

from __future__ import annotations

import numpy as np

from canvas.store.layers import FINE, OWN, Layers, fine_layer
from canvas.store.pixels import downsample2, over
from canvas.store.tiles import TILE, empty_tile, tile_rect, words
from tiler.rect import Rect, mask_bounds

MIN_TOP = 4

Dirty = dict[int, dict[tuple[int, int], Rect]]  # level -> tile -> changed rect (level coords)


def top_level(extent: Rect | None, floor: int) -> int:
    """The first level >= floor where ``extent`` (level-0 coordinates) fits in one tile's size."""
    level = max(floor, MIN_TOP)
    if extent is None or extent.empty:
        return level
    while True:
        at = extent.to_level(0, level)
        if at.w <= TILE and at.h <= TILE:
            return level
        level += 1


def update(layers: Layers, rev: int, dirty: Dirty, top: int) -> None:
    """Recompute fine(L) over the dirty rects, lowest level first, propagating up to ``top``.

    ``dirty[L]`` holds, per tile, the rect whose inputs changed at level L: own(L) pixels,
    or (for seeds of a grown pyramid) the whole fine(L - 1) content beneath.
    """
    level = min(dirty)
    while level <= top:
        here = dirty.get(level, {})
        if level >= 1:  # only the pixels that came out different propagate
            refreshed = ((key, _refresh(layers, rev, level, *key, rect)) for key, rect in here.items())
            here = {key: rect for key, rect in refreshed if not rect.empty}
        if level < top and here:
            parents = dirty.setdefault(level + 1, {})
            for (tx, ty), rect in here.items():
                key, up = (tx >> 1, ty >> 1), rect.to_level(level, level + 1)
                parents[key] = parents[key].union(up) if key in parents else up
        level += 1


def seed_growth(layers: Layers, old_top: int, dirty: Dirty) -> None:
    """The pyramid grows above ``old_top``: every fine(old_top) tile feeds the new level."""
    parents = dirty.setdefault(old_top + 1, {})
    for tx, ty in list(layers.keys(fine_layer(old_top), old_top)):
        key, up = (tx >> 1, ty >> 1), tile_rect(tx, ty).to_level(old_top, old_top + 1)
        parents[key] = parents[key].union(up) if key in parents else up


def _refresh(layers: Layers, rev: int, level: int, tx: int, ty: int, rect: Rect) -> Rect:
    """fine(level) over ``rect`` (inside tile tx, ty) from fine(level - 1) and own(level).

    Returns the bbox of the pixels that changed (level coordinates), empty when none did.
    """
    pixels = _downsampled(layers, level - 1, rect)
    local = rect.translate(-tx * TILE, -ty * TILE).slices
    own = layers.get(OWN, level, tx, ty)
    if own is not None:
        pixels = over(pixels, own[local])
    current = layers.get(FINE, level, tx, ty)
    moved = mask_bounds(words(pixels) != (0 if current is None else words(current)[local]))
    if moved.empty:
        return moved
    tile = empty_tile() if current is None else current.copy()
    tile[local] = pixels
    layers.put(FINE, level, tx, ty, rev, tile)
    return moved.translate(rect.x, rect.y)


def _downsampled(layers: Layers, below: int, rect: Rect) -> np.ndarray:
    """downsample2(fine(below)) over ``rect`` (at level below + 1), a child tile at a time.

    2 x 2 blocks never straddle tiles, so this equals downsampling the assembled region,
    without assembling it: no copy of the finer pixels, no work for absent tiles.
    """
    out = np.zeros((rect.h, rect.w, 4), np.uint8)
    region = rect.to_level(below + 1, below)
    for cx, cy in region.tiles(TILE):
        child = layers.get(fine_layer(below), below, cx, cy)
        if child is None:
            continue
        part = region.intersect(tile_rect(cx, cy))
        target = part.to_level(below, below + 1).relative_to(rect)
        out[target.slices] = downsample2(child[part.translate(-cx * TILE, -cy * TILE).slices])
    return out


def read_fine(layers: Layers, level: int, rect: Rect, top: int, extent: Rect | None) -> np.ndarray:
    """fine(level) over ``rect``: stored up to ``top``, computed from fine(top) above it."""
    if level <= top:
        return layers.read_region(fine_layer(level), level, rect)
    out = np.zeros((rect.h, rect.w, 4), np.uint8)
    if extent is None:
        return out
    clip = rect.intersect(extent.to_level(0, level))
    if clip.empty:
        return out
    below = read_fine(layers, level - 1, clip.to_level(level, level - 1), top, extent)
    out[clip.relative_to(rect).slices] = downsample2(below)
    return out


def fine_revision(layers: Layers, level: int, tx: int, ty: int, top: int, extent: Rect | None) -> int:
    """The newest revision among the stored tiles that fine(level) tile (tx, ty) is made of."""
    if level <= top:
        return layers.rev(fine_layer(level), level, tx, ty)
    if extent is None:
        return 0
    under = tile_rect(tx, ty).to_level(level, top).intersect(extent.to_level(0, top))
    return max((layers.rev(fine_layer(top), top, x, y) for x, y in under.tiles(TILE)), default=0)
