"""Pixel maths between levels: premultiplied 2x box downsample, nearest upsample, OVER.

Tiles hold straight (not premultiplied) RGBA uint8, alpha 255 known and 0 empty, and
empty pixels hold colour 0. Averages weight colour by alpha, so the black of empty pixels
never bleeds into coarse edges, and partial coverage gives partial alpha.

Upsampling is nearest-neighbour, by choice: it keeps a coarse pixel's exact colour and
alpha, so the bounds of content are exact at every level, it costs one gather, and a
coarse level is only a stand-in until finer content is painted over it.
"""

from __future__ import annotations

import sys

import numpy as np

from tiler.rect import Rect

assert sys.byteorder == "little", "downsample2 packs RGBA lanes into uint64 little-endian"
_LANES16 = np.uint64(0x0001_0001_0001_0001)
_LANES32_EVEN = np.uint64(0x0000_FFFF_0000_FFFF)
_ALPHA_OF_KNOWN = np.array([0, 64, 128, 192, 255], np.uint8)  # ceil(n * 255 / 4)


def downsample2(rgba: np.ndarray) -> np.ndarray:
    """Halve an even-sized RGBA array.

    Colour is the alpha-weighted mean, rounded half up; alpha is the mean rounded *up*,
    so a known pixel stays visible (alpha > 0) at every coarser level and bounds stay exact.
    """
    h, w = rgba.shape[0] // 2, rgba.shape[1] // 2
    alpha = rgba[..., 3]
    if alpha.size == 0 or alpha.max() == 0:
        return np.zeros((h, w, 4), np.uint8)
    # One uint64 per pixel holding four 16-bit lanes (R, G, B, A): a 2x2 sum is two adds
    # on whole pixels, many times faster in numpy than strided adds on 4-byte channels.
    pixels = rgba.astype(np.uint16).view(np.uint64).reshape(2 * h, 2 * w)
    if alpha.min() == 255:  # fully known: the plain mean is the weighted one
        sums = (_sum2x2(pixels) + _LANES16 * 2) >> 2
        return (sums & (_LANES16 * 255)).view(np.uint16).reshape(h, w, 4).astype(np.uint8)
    if not ((alpha + np.uint8(1)) & np.uint8(0xFE)).any():  # alpha only 0 or 255 (level 0)
        # empty pixels hold colour 0, so plain sums are the weighted ones, over n known
        sums = _sum2x2(pixels).view(np.uint16).reshape(h, w, 4)
        known = sums[..., 3] // 255
        out = np.empty((h, w, 4), np.uint8)
        den = 2 * np.maximum(known, 1)
        for c in range(3):  # per channel: numpy is slow on a trailing axis of 3
            out[..., c] = (2 * sums[..., c] + known) // den
        out[..., 3] = _ALPHA_OF_KNOWN[known]
        return out
    weighted = pixels * alpha.astype(np.uint64)  # lanes c * a <= 65025: no carry between lanes
    red_blue = _sum2x2(weighted & _LANES32_EVEN)  # two 32-bit lanes: sums <= 260100
    green = _sum2x2((weighted >> 16) & _LANES32_EVEN) & 0xFFFFFFFF
    sum_a = _sum2x2(pixels) >> 48
    half, den = sum_a, 2 * np.maximum(sum_a, 1)
    out = np.empty((h, w, 4), np.uint8)
    out[..., 0] = (2 * (red_blue & 0xFFFFFFFF) + half) // den  # round(sum_ca / sum_a); 0 if none
    out[..., 1] = (2 * green + half) // den
    out[..., 2] = (2 * (red_blue >> 32) + half) // den
    out[..., 3] = (sum_a + 3) >> 2
    return out


def _sum2x2(v: np.ndarray) -> np.ndarray:
    rows = v[0::2] + v[1::2]
    return rows[:, 0::2] + rows[:, 1::2]


def over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top`` composited over ``bottom`` (same shape), straight alpha in and out.

    May return one of its inputs unchanged when the other cannot show; never mutates them.
    """
    ta = top[..., 3]
    if ta.min(initial=255) == 255 or bottom[..., 3].max(initial=0) == 0:
        return top
    if ta.max(initial=0) == 0:
        return bottom
    out = top.copy()
    mask = (ta < 255) & (bottom[..., 3] > 0)
    t = top[mask].astype(np.float32)
    b = bottom[mask].astype(np.float32)
    t_a = t[:, 3:] / 255.0
    b_a = b[:, 3:] / 255.0 * (1.0 - t_a)
    out_a = t_a + b_a
    colour = (t[:, :3] * t_a + b[:, :3] * b_a) / np.maximum(out_a, 1e-12)
    out[mask, :3] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    out[mask, 3] = np.rint(out_a[:, 0] * 255.0).astype(np.uint8)
    return out


def upsample(src: np.ndarray, src_rect: Rect, shift: int, rect: Rect) -> np.ndarray:
    """Nearest upsample by 2**shift: the pixels of ``rect`` from ``src`` covering ``src_rect``.

    ``rect`` is at the finer level; ``rect.to_level(0, shift)`` must lie inside ``src_rect``.
    """
    ys = (np.arange(rect.y, rect.y1, dtype=np.int64) >> shift) - src_rect.y
    xs = (np.arange(rect.x, rect.x1, dtype=np.int64) >> shift) - src_rect.x
    return src[ys[:, None], xs[None, :]]


def upsample_smooth(src: np.ndarray, src_rect: Rect, shift: int, rect: Rect) -> np.ndarray:
    """As ``upsample``, but colours are interpolated bilinearly (premultiplied, so empty
    pixels do not darken edges) while alpha stays nearest: bounds remain exact, and coarse
    content shown under finer zoom is soft instead of blocky. For display only.

    ``src`` should extend one coarse pixel beyond what ``rect`` covers; indices clamp at
    its border.
    """
    if shift == 0:
        return src[(rect.y - src_rect.y) : (rect.y1 - src_rect.y), (rect.x - src_rect.x) : (rect.x1 - src_rect.x)].copy()
    scale = 2.0**shift
    premultiplied = src.astype(np.float32)
    premultiplied[..., :3] *= premultiplied[..., 3:] / 255.0

    def axis(start: int, stop: int, origin: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u = (np.arange(start, stop, dtype=np.float64) + 0.5) / scale - 0.5 - origin
        low = np.floor(u)
        weight = (u - low).astype(np.float32)
        low = low.astype(np.int64)
        return np.clip(low, 0, size - 1), np.clip(low + 1, 0, size - 1), weight

    y0, y1, wy = axis(rect.y, rect.y1, src_rect.y, src.shape[0])
    x0, x1, wx = axis(rect.x, rect.x1, src_rect.x, src.shape[1])
    rows = premultiplied[y0] * (1 - wy)[:, None, None] + premultiplied[y1] * wy[:, None, None]
    blended = rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
    out = upsample(src, src_rect, shift, rect)  # alpha (and the colour where nothing blends)
    alpha = blended[..., 3:]
    colour = np.where(alpha > 0, blended[..., :3] * 255.0 / np.maximum(alpha, 1e-6), out[..., :3])
    shown = out[..., 3] > 0
    out[shown, :3] = np.clip(np.rint(colour[shown]), 0, 255).astype(np.uint8)
    return out
