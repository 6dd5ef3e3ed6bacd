"""Colour-match the painter's output to the known content, so expansions do not drift.

The painter repaints the band of known pixels, so in the band we have the same content
twice: as it was (``original``) and as the painter rendered it (``painted``). Any global
colour cast the painter adds shows up as a difference of per-channel mean and std there;
an affine per-channel correction that undoes it in the band is then applied to every new
pixel (fill and band). Without it, ten expansions in a row compound the cast.

    >>> rng = np.random.default_rng(0)
    >>> original = rng.integers(40, 200, (32, 32, 3), dtype=np.uint8)
    >>> painted = (original * 0.8).astype(np.uint8)          # the painter darkened it
    >>> band = np.zeros((32, 32), bool); band[:, :8] = True
    >>> fixed = match_colour(painted, original, band, apply_to=np.ones((32, 32), bool))
    >>> int(np.abs(fixed.astype(int) - original).max()) <= 2
    True
"""

from __future__ import annotations

import numpy as np

MIN_BAND_PIXELS = 64  # fewer and the statistics are noise: leave the painter's colours
GAIN_RANGE = (0.5, 2.0)  # a larger correction means different content, not a cast
_IDENTITY = np.broadcast_to(np.arange(256, dtype=np.uint8), (3, 256))


def match_colour(
    painted: np.ndarray, original: np.ndarray, band: np.ndarray, apply_to: np.ndarray | None
) -> np.ndarray:
    """A copy of ``painted`` with ``apply_to`` pixels mapped so the band matches ``original``.

    Per channel c: x -> (x - mean_painted_c) * gain_c + mean_original_c, over the band, with
    gain_c = std_original_c / std_painted_c clamped to ``GAIN_RANGE`` (1 for a flat band).
    The map is a 256-entry table per channel, so applying it is a lookup, not float maths.
    ``apply_to=None`` maps every pixel: the same committed result when the output goes
    straight through ``composite`` (alpha is 0 outside fill and band), and cheaper.
    """
    h, w = band.shape
    if painted.shape != (h, w, 3) or original.shape != (h, w, 3):
        raise ValueError(f"shapes differ: painted {painted.shape}, original {original.shape}, band {band.shape}")
    if apply_to is not None and apply_to.shape != (h, w):
        raise ValueError(f"apply_to {apply_to.shape} differs from band {band.shape}")
    out = np.array(painted, dtype=np.uint8, order="C")
    index = np.flatnonzero(band)
    if index.size < MIN_BAND_PIXELS:
        return out
    painted_band = np.take(out.reshape(-1, 3), index, axis=0)
    original_band = np.take(original.reshape(-1, 3), index, axis=0)
    if np.array_equal(painted_band, original_band):  # equal statistics: the identity map
        return out
    lut = colour_lut(painted_band, original_band)
    if np.array_equal(lut, _IDENTITY):  # a cast too small to move any level
        return out
    for c in range(3):
        channel = out[..., c]
        mapped = np.take(lut[c], channel)
        if apply_to is None:
            channel[...] = mapped
        else:
            # channel + (mapped - channel) * apply_to wraps exactly to one or the other:
            # a masked copy numpy runs as plain array arithmetic.
            mapped -= channel
            mapped *= apply_to
            channel += mapped
    return out


def colour_lut(painted_pixels: np.ndarray, original_pixels: np.ndarray) -> np.ndarray:
    """The (3, 256) uint8 table mapping painted levels to matched ones, from Nx3 samples."""
    # Channel-major and contiguous: reductions then run over long rows, not 3-wide ones.
    p = np.ascontiguousarray(painted_pixels.T, dtype=np.float64)
    o = np.ascontiguousarray(original_pixels.T, dtype=np.float64)
    mean_p, mean_o = p.mean(axis=1), o.mean(axis=1)
    std_p, std_o = p.std(axis=1), o.std(axis=1)
    flat = std_p < 0.5  # no texture to compare: correct the offset only
    gain = np.where(flat, 1.0, std_o / np.where(flat, 1.0, std_p))
    gain = np.clip(gain, *GAIN_RANGE)
    levels = np.arange(256, dtype=np.float64)
    mapped = (levels[None, :] - mean_p[:, None]) * gain[:, None] + mean_o[:, None]
    return np.clip(np.rint(mapped), 0, 255).astype(np.uint8)
