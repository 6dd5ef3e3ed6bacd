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


def match_colour(painted: np.ndarray, original: np.ndarray, band: np.ndarray, apply_to: np.ndarray) -> np.ndarray:
    """A copy of ``painted`` with ``apply_to`` pixels mapped so the band matches ``original``.

    Per channel c: x -> (x - mean_painted_c) * gain_c + mean_original_c, over the band, with
    gain_c = std_original_c / std_painted_c clamped to ``GAIN_RANGE`` (1 for a flat band).
    The map is a 256-entry table per channel, so applying it is a lookup, not float maths.
    """
    h, w = band.shape
    if painted.shape != (h, w, 3) or original.shape != (h, w, 3) or apply_to.shape != (h, w):
        raise ValueError(
            f"shapes differ: painted {painted.shape}, original {original.shape}, "
            f"band {band.shape}, apply_to {apply_to.shape}"
        )
    out = painted.copy()
    if int(np.count_nonzero(band)) < MIN_BAND_PIXELS:
        return out
    lut = colour_lut(painted[band], original[band])
    for c in range(3):
        channel = out[..., c]
        np.copyto(channel, np.take(lut[c], channel), where=apply_to)
    return out


def colour_lut(painted_pixels: np.ndarray, original_pixels: np.ndarray) -> np.ndarray:
    """The (3, 256) uint8 table mapping painted levels to matched ones, from Nx3 samples."""
    p = painted_pixels.astype(np.float64)
    o = original_pixels.astype(np.float64)
    mean_p, mean_o = p.mean(axis=0), o.mean(axis=0)
    std_p, std_o = p.std(axis=0), o.std(axis=0)
    flat = std_p < 0.5  # no texture to compare: correct the offset only
    gain = np.where(flat, 1.0, std_o / np.where(flat, 1.0, std_p))
    gain = np.clip(gain, *GAIN_RANGE)
    levels = np.arange(256, dtype=np.float64)
    mapped = (levels[None, :] - mean_p[:, None]) * gain[:, None] + mean_o[:, None]
    return np.clip(np.rint(mapped), 0, 255).astype(np.uint8)
