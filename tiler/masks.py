"""Generation mask and feathered composite alpha for one window.

In a window, ``known`` pixels are context, ``fill`` pixels are the target this window
paints and commits, and the rest (``~known & ~fill``, the void) must be filled in the
painter's input but are never committed. The painter also repaints a band of known pixels
up to ``pad`` px (city-block) from the fill; the composite alpha ramps across that band so
the seam is a soft blend and every known pixel outside the band stays bit-exact.

    >>> known = np.zeros((8, 8), bool); known[:, :4] = True
    >>> fill = ~known
    >>> m = window_masks(known, fill, pad=3, feather=2)
    >>> [round(float(a), 2) for a in m.alpha[0]]
    [0.0, 0.33, 0.67, 1.0, 1.0, 1.0, 1.0, 1.0]
    >>> int(m.band.sum()), bool(m.generate[:, 1:].all())
    (24, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# "No source" distance: far beyond any window, small enough that FAR + 2 * side of any
# array we will see still fits in int32 during the passes.
FAR = 1 << 29


def distance_l1(sources: np.ndarray) -> np.ndarray:
    """Exact city-block distance from each pixel to the nearest True pixel (``FAR`` if none).

    L1 because it is separable into two exact 1D passes per axis, each a running minimum
    (``np.minimum.accumulate``), so the whole transform is four O(N) vectorised passes.
    An exact Euclidean transform needs the lower-envelope algorithm (a Python loop per
    row) or scipy; chamfer approximations need sequential neighbour sweeps. For a band a
    few dozen pixels wide the diamond shape of L1 is invisible after feathering.
    """
    if sources.ndim != 2 or sources.dtype != np.bool_:
        raise ValueError(f"sources must be a 2D bool array, got {sources.dtype} {sources.shape}")
    h, w = sources.shape
    if max(h, w) > FAR // 4:
        raise ValueError(f"array too large for distance_l1: {sources.shape}")
    d = np.where(sources, np.int32(0), np.int32(FAR))
    d = _pass_1d(d, axis=1)
    d = _pass_1d(d, axis=0)
    np.minimum(d, FAR, out=d)
    return d


def _pass_1d(g: np.ndarray, axis: int) -> np.ndarray:
    """min_j g[j] + |i - j| along ``axis``: forward and backward running minima.

    Forward: min_{j<=i} g[j] + i - j = i + cummin(g - i). Backward likewise on g + i.
    """
    n = g.shape[axis]
    i = np.arange(n, dtype=np.int32)
    i = i[None, :] if axis == 1 else i[:, None]
    fwd = np.minimum.accumulate(g - i, axis=axis)
    fwd += i
    rev = [slice(None), slice(None)]
    rev[axis] = slice(None, None, -1)
    rev = tuple(rev)
    bwd = np.minimum.accumulate((g + i)[rev], axis=axis)[rev]
    bwd -= i
    np.minimum(fwd, bwd, out=fwd)
    return fwd


@dataclass(frozen=True)
class WindowMasks:
    """What the painter repaints (``generate``), how to composite (``alpha``), and the band."""

    generate: np.ndarray  # bool HxW: fill | void | band
    alpha: np.ndarray  # float32 HxW: 1 on fill, ramp on band, exactly 0 elsewhere
    band: np.ndarray  # bool HxW: known, not fill, within pad (L1) of fill


def window_masks(
    known: np.ndarray,
    fill: np.ndarray,
    *,
    pad: int,
    feather: int,
    outside_known: np.ndarray | None = None,
) -> WindowMasks:
    """Masks for one window; ``fill`` may overlap ``known`` (inpainting repaints known pixels).

    Band pixel at distance d (1..pad) from the fill gets alpha min(1, (pad - d + 1) /
    (feather + 1)): the outermost ``feather`` band pixels step up 1/(feather+1),
    2/(feather+1), ... and the first pixel beyond the band is exactly 0. ``feather=0`` is a
    hard edge (the whole band at alpha 1).

    ``outside_known`` is an (H+2)x(W+2) bool array whose border ring says which pixels just
    outside the window are known (the interior is ignored). Band pixels near such a pixel
    are tapered the same way, min(ramp, d_out / (feather + 1)) with d_out the L1 distance
    to it, so the blended band fades into the unchanged known pixels across the window
    border instead of ending in a line there. Fill pixels keep alpha 1.
    """
    _check(known, fill, pad, feather, outside_known)
    h, w = known.shape
    void = ~known & ~fill
    if pad == 0 or not fill.any():
        band = np.zeros((h, w), bool)
        return WindowMasks(generate=fill | void, alpha=fill.astype(np.float32), band=band)

    d = distance_l1(fill)
    band = known & ~fill & (d <= pad)
    # Ramp in float32: (pad + 1 - d) / (feather + 1), clipped to [0, 1]; zero outside band.
    ramp = np.subtract(pad + 1, d, dtype=np.float32)
    ramp *= np.float32(1.0 / (feather + 1))
    np.clip(ramp, 0.0, 1.0, out=ramp)
    if outside_known is not None and feather > 0:
        ring = np.zeros((h + 2, w + 2), bool)
        ring[0, :] = outside_known[0, :]
        ring[-1, :] = outside_known[-1, :]
        ring[:, 0] = outside_known[:, 0]
        ring[:, -1] = outside_known[:, -1]
        if ring.any():
            d_out = distance_l1(ring)[1:-1, 1:-1]
            taper = d_out.astype(np.float32)
            taper *= np.float32(1.0 / (feather + 1))
            np.minimum(ramp, taper, out=ramp)
    alpha = ramp
    alpha *= band  # exactly 0 off the band (ramp is finite, so 0 * ramp == 0)
    np.copyto(alpha, np.float32(1.0), where=fill)
    return WindowMasks(generate=fill | void | band, alpha=alpha, band=band)


def _check(
    known: np.ndarray, fill: np.ndarray, pad: int, feather: int, outside_known: np.ndarray | None
) -> None:
    for name, m in (("known", known), ("fill", fill)):
        if not isinstance(m, np.ndarray) or m.ndim != 2 or m.dtype != np.bool_:
            raise ValueError(f"{name} must be a 2D bool array")
    if known.shape != fill.shape:
        raise ValueError(f"known {known.shape} and fill {fill.shape} differ in shape")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if not 0 <= feather <= pad:
        raise ValueError(f"feather must be in [0, pad={pad}], got {feather}")
    if outside_known is not None:
        h, w = known.shape
        if outside_known.shape != (h + 2, w + 2) or outside_known.dtype != np.bool_:
            raise ValueError(f"outside_known must be a bool ({h + 2}, {w + 2}) array")
