"""How visible a seam is: the jump across it relative to the image's own pixel-to-pixel change.

A seam is the set of horizontally and vertically adjacent pixel pairs whose ``side``
differs (e.g. inside versus outside a window). The ratio is the mean absolute difference
(over channels) across those pairs divided by the same mean over adjacent pairs that lie
wholly inside ``reference`` (known content): about 1 when the seam is invisible, well
above 1 for a line or a step.

    >>> rng = np.random.default_rng(0)
    >>> image = rng.integers(100, 140, (64, 64, 3), dtype=np.uint8)
    >>> side = np.zeros((64, 64), bool); side[:, 32:] = True
    >>> round(seam_ratio(image, side, reference=~side), 1)       # noise split anywhere
    1.0
    >>> image[:, 32:] += 60                                       # a step at the split
    >>> seam_ratio(image, side, reference=~side) > 3
    True
"""

from __future__ import annotations

import numpy as np

from tiler.rect import Rect


def seam_ratio(
    image: np.ndarray, side: np.ndarray, reference: np.ndarray, *, valid: np.ndarray | None = None
) -> float:
    """Seam difference over reference difference; nan when either set of pairs is empty.

    ``valid`` (optional bool HxW) restricts both sets to pairs whose two pixels are valid,
    e.g. known canvas pixels when the image has holes. A flat reference (difference 0)
    gives inf when the seam differs at all and 1.0 when it does not.
    """
    h, w = side.shape
    if image.shape[:2] != (h, w) or reference.shape != (h, w):
        raise ValueError(f"shapes differ: image {image.shape}, side {side.shape}, reference {reference.shape}")
    if valid is not None and valid.shape != (h, w):
        raise ValueError(f"valid {valid.shape} differs from side {side.shape}")
    img = image.astype(np.int16)
    if img.ndim == 2:
        img = img[..., None]
    seam_sum = ref_sum = seam_n = ref_n = 0
    for axis in (0, 1):
        a, b = _pairs(img, axis)
        per_channel = np.abs(a - b)
        # Sum channels through per-channel views: a reduction over a 3-long last axis
        # runs 3-element inner loops, many times slower.
        diff = per_channel[..., 0].copy()
        for c in range(1, per_channel.shape[-1]):
            diff += per_channel[..., c]
        sa, sb = _pairs(side, axis)
        ra, rb = _pairs(reference, axis)
        across = sa != sb
        inside = ra & rb
        if valid is not None:
            va, vb = _pairs(valid, axis)
            both = va & vb
            across &= both
            inside &= both
        # Masked sums as products with the bool masks: whole-array operations, no gathers.
        seam_sum += int(np.multiply(diff, across).sum(dtype=np.int64))
        seam_n += int(np.count_nonzero(across))
        ref_sum += int(np.multiply(diff, inside).sum(dtype=np.int64))
        ref_n += int(np.count_nonzero(inside))
    if seam_n == 0 or ref_n == 0:
        return float("nan")
    # Differences are summed over channels; dividing both by the channel count would
    # give the per-channel means and leave the ratio unchanged.
    seam = seam_sum / seam_n
    ref = ref_sum / ref_n
    if ref == 0:
        return float("inf") if seam > 0 else 1.0
    return seam / ref


def window_seam_ratio(image: np.ndarray, window: Rect, reference: np.ndarray, *, valid: np.ndarray | None = None) -> float:
    """``seam_ratio`` across the border of ``window`` (a Rect in ``image``'s coordinates)."""
    h, w = image.shape[:2]
    side = np.zeros((h, w), bool)
    side[window.intersect(Rect(0, 0, w, h)).slices] = True  # negative slices would wrap
    return seam_ratio(image, side, reference, valid=valid)


NEAR = 16  # px: a painted region's seam is compared with known content this close to it


def painted_seam_ratios(
    image: np.ndarray, area: Rect, known: np.ndarray, windows: list[Rect], *, near: int = NEAR
) -> list[float]:
    """The seam ratio of each window's painted region, replaying a job in paint order.

    ``image`` is the result over ``area``; ``known`` marks what was known before the job.
    Window k painted the pixels of its rect that were neither known nor painted by an
    earlier window; its seam is that region's whole border, compared with the known
    content (the original, or what earlier windows painted) within ``near`` px of it: a
    seam is a line that stands out from the texture beside it.
    """
    from tiler.masks import distance_l1

    known = known.copy()
    ratios = []
    for rect in windows:
        painted = np.zeros_like(known)
        painted[rect.intersect(area).relative_to(area).slices] = True
        painted &= ~known
        beside = distance_l1(painted) <= near
        ratios.append(seam_ratio(image, painted, known & beside))
        known |= painted
    return ratios


def _pairs(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The two members of every adjacent pair along ``axis`` (0: vertical, 1: horizontal)."""
    if axis == 0:
        return a[:-1], a[1:]
    return a[:, :-1], a[:, 1:]
