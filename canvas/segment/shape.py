"""A segment's outline moved out or in by some pixels, before it becomes an inpaint mask:
a little margin lets the painter replace the object's edge instead of tracing it.

    mask = grow(segment, 8)     # 8 px larger on every side (city-block)
    mask = grow(segment, -4)    # 4 px smaller

City-block distance, as the tiler's seam band uses (and the browser client's grow): exact
and vectorised, and its diamond corners vanish under the window's feathering.
"""

from __future__ import annotations

import numpy as np

from tiler.masks import distance_l1

MAX_GROW = 256  # px either way: past that a box or the brush says it better


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    """`mask` (2-D bool) grown by `px` pixels (shrunk when negative); a new array."""
    if mask.ndim != 2 or mask.dtype != bool:
        raise ValueError(f"expected a 2-D bool mask, got {mask.dtype} {mask.shape}")
    if not -MAX_GROW <= px <= MAX_GROW:
        raise ValueError(f"grow by -{MAX_GROW} to {MAX_GROW} px, got {px}")
    if px == 0:
        return mask.copy()
    if px > 0:
        return distance_l1(mask) <= px
    return distance_l1(~mask) > -px
