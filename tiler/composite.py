"""Blend the painter's output into the window through the composite alpha.

    >>> original = np.zeros((2, 2, 4), np.uint8)
    >>> painted = np.full((2, 2, 3), 200, np.uint8)
    >>> alpha = np.array([[0.0, 0.5], [1.0, 0.0]], np.float32)
    >>> out = composite(original, painted, alpha)
    >>> out[..., 0].tolist(), out[..., 3].tolist()
    ([[0, 100], [200, 0]], [[0, 255], [255, 0]])
"""

from __future__ import annotations

import numpy as np

OPAQUE = np.uint32(0xFF000000)  # alpha byte of a little-endian RGBA word
RGB = np.uint32(0x00FFFFFF)


def composite(
    original_rgba: np.ndarray, painted_rgb: np.ndarray, alpha: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """original where alpha == 0 (bit for bit), painted where alpha >= 1, rounded blend between.

    The output's alpha channel is 255 wherever alpha > 0 and the original's elsewhere.
    ``out`` (uint8 HxWx4, may be ``original_rgba`` itself) receives the result in place.

    Pixels are handled as little-endian uint32 RGBA words: numpy's per-pixel work on
    HxWx3 and HxWx4 arrays runs inner loops three or four elements long, an order of
    magnitude slower than whole-array word operations. Only the band (0 < alpha < 1), a thin
    strip, goes through float maths.
    """
    h, w = alpha.shape
    if original_rgba.shape != (h, w, 4) or painted_rgb.shape != (h, w, 3):
        raise ValueError(
            f"shapes differ: original {original_rgba.shape}, painted {painted_rgb.shape}, alpha {alpha.shape}"
        )
    if original_rgba.dtype != np.uint8 or painted_rgb.dtype != np.uint8:
        raise ValueError("original_rgba and painted_rgb must be uint8")
    if out is None:
        out = original_rgba.copy()
    elif out is not original_rgba:
        if out.shape != (h, w, 4) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous uint8 HxWx4 array")
        np.copyto(out, original_rgba)
    elif not out.flags.c_contiguous:
        raise ValueError("compositing in place needs a C-contiguous original_rgba")
    words = out.reshape(-1).view("<u4")  # one word per pixel, R in the low byte
    painted = np.ascontiguousarray(painted_rgb)
    flat_alpha = alpha.reshape(-1)

    opaque = flat_alpha >= 1.0
    if opaque.any():
        # words += (painted_word - words) * opaque, in modular uint32 arithmetic: a
        # branch-free select that numpy runs as whole-array operations.
        change = _rgb_words(painted.reshape(-1))
        change |= OPAQUE
        change -= words
        change *= opaque
        words += change

    partial = np.flatnonzero((flat_alpha > 0.0) & ~opaque)
    if partial.size:
        a = np.repeat(flat_alpha[partial], 3)  # one weight per channel, laid out like rgb
        o = np.take(words, partial).view(np.uint8).reshape(-1, 4)[:, :3].astype(np.float32).reshape(-1)
        p = np.take(painted.reshape(-1, 3), partial, axis=0).reshape(-1).astype(np.float32)
        # o + (p - o) * a, rounded half up (every value is >= 0)
        p -= o
        p *= a
        p += o
        p += 0.5
        blended = _rgb_words(p.astype(np.uint8))
        blended |= OPAQUE
        words[partial] = blended
    return out


def _rgb_words(rgb_bytes: np.ndarray) -> np.ndarray:
    """uint32 words (R low byte, alpha byte 0) from a flat contiguous R, G, B, R, ... array.

    Each word is read unaligned at byte 3i: four bytes, the fourth being the next pixel's R,
    which the mask drops. The last pixel would read one byte past the end, so it is copied.
    """
    n = rgb_bytes.size // 3
    words = np.empty(n, np.uint32)
    if n == 0:
        return words
    if n > 1:
        view = np.ndarray((n - 1,), dtype="<u4", buffer=rgb_bytes, strides=(3,))
        np.bitwise_and(view, RGB, out=words[:-1])
    r, g, b = (int(v) for v in rgb_bytes[-3:])
    words[-1] = r | g << 8 | b << 16
    return words
