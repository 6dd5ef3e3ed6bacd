"""The default painter: exemplar-based completion by PatchMatch, no weights, no GPU.

It copies patches of the window's known pixels into the masked ones through the
`pypatchmatch` wheel, in two passes:

1. the whole mask, from the known pixels only: the window's void (unknown pixels it is
   not asked to paint, see `canvas.jobs.window`) is neither painted nor copied from, so
   every patch comes from real content and no effort goes where nothing is committed;
2. the seam: the masked pixels within `SEAM_STRIP` px of the known ones are painted
   again, with the known pixels on one side and the first pass on the other as
   constraints. The first pass settles its structure coarse to fine over the whole
   window, and may run (say) fur right up to a known pale background; a thin strip has
   no room for structure of its own, so its patches have to agree with both sides.
   It costs a tenth to a quarter of the first pass, so it runs with `SEAM_TRIES` seeds
   and keeps the one whose border joins best (`tiler.seams.seam_ratio`).

Below strength 1 the pixels it is given under the mask are a guide (a coarse-to-fine job's
refine stage hands it the coarse picture upsampled, canvas/jobs/coarse.py): patches are
chosen by their likeness to the known pixels and by how close their blurred colour is to
the guide's there (`patch_match.inpaint_regularity`), more strongly the lower the
strength, so the fill keeps the guide's layout with the known pixels' texture.

Where its native library cannot load, it falls back to the tiler's edge-extension fill
plus a little seeded noise, so the canvas still grows (plainly) instead of failing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from canvas.painters.base import CancelToken, Option, PaintProgress, PaintRequest, ProgressCallback
from tiler.masks import distance_l1
from tiler.prefill import patchmatch_available, prefill
from tiler.seams import NEAR, seam_ratio

log = logging.getLogger(__name__)

PATCH_SIZE = 3
# Measured on bench/seams.py: a 12-16 px strip mends the seams; at 24 px the strip grows
# structure of its own again and the seam comes back (chelsea: 1.2 -> 2.2).
SEAM_STRIP = 16  # px (L1) of the fill next to the known pixels that the seam pass repaints
SEAM_TRIES = 3
# The guide: colours blurred over this radius (px), so a patch is compared with the guide
# by its surroundings' colour, not its own texture; weights are capped (strength near 0).
GUIDE_BLUR = 8
MAX_GUIDE_WEIGHT = 100.0
# The native library's random state is global to the process: two threads painting at
# once (a pool of in-process painters) would draw from it in turn and paint differently
# each run. One call at a time per process; processes (ProcessPool) paint in parallel.
_NATIVE = threading.Lock()


class PatchMatchPainter:
    name = "patchmatch"
    # PatchMatch copies whole patches across the hole's border, so it matches the known
    # pixels there itself; it fills only the unknown part (see Painter.repaints_band).
    repaints_band = False
    # It takes the window's void apart from its mask (`paint(..., void=...)`), to leave
    # those pixels alone instead of painting them.
    skips_void = True
    # What a job may set in `request.options` (the server lists it in `welcome`).
    OPTIONS = {"patch_size": Option("Patch size", 1, 32, PATCH_SIZE)}
    label = "PatchMatch"
    # It copies patches of the known pixels: no prompt, steps, guidance or strength (so
    # the client hides them), and a window with nothing known cannot be painted.
    uses: tuple[str, ...] = ()
    defaults: dict[str, Any] = {}

    def __init__(self, patch_size: int = PATCH_SIZE) -> None:
        limits = self.OPTIONS["patch_size"]
        if not limits.low <= int(patch_size) <= limits.high:
            raise ValueError(f"patch size must be between {limits.low} and {limits.high}, got {patch_size}")
        self.patch_size = int(patch_size)
        self.native = patchmatch_available()
        if not self.native:
            log.warning("pypatchmatch's native library is unavailable: using the plain edge fill")

    def describe(self) -> dict[str, Any]:
        painter = self.name if self.native else f"{self.name} (plain fallback)"
        return {"painter": painter, "patch_size": self.patch_size}

    def paint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        request: PaintRequest,
        progress: ProgressCallback,
        cancel: CancelToken,
        *,
        void: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Candidates with ``mask`` painted; ``void`` (bool, off ``mask``) is left as it came."""
        if void is not None and (void.shape != mask.shape or (void & mask).any()):
            raise ValueError("void must be a bool mask of the image's shape, disjoint from mask")
        patch_size = int(request.options.get("patch_size", self.patch_size))
        weight = guide_weight(request.strength)
        guide = guide_map(image) if weight > 0 and self.native else None
        results = []
        for i in range(max(1, request.candidates)):
            cancel.raise_if_cancelled()
            seed = request.seed + i
            if self.native:
                results.append(_inpaint(image, mask, void, patch_size, seed, guide, weight))
            else:
                results.append(_plain_fill(image, mask, seed))
            progress(PaintProgress(step=i + 1, steps=request.candidates))
        return results


def guide_weight(strength: float) -> float:
    """How strongly the pixels under the mask guide the fill: 0 at strength 1 (not at all),
    1 at 0.5, growing as the strength falls (capped)."""
    if strength >= 1:
        return 0.0
    return min((1.0 - strength) / max(strength, 1e-6), MAX_GUIDE_WEIGHT)


def guide_map(image: np.ndarray) -> np.ndarray:
    """The regularity map `inpaint_regularity` compares: each pixel's blurred colour,
    projected on the image's two main colour directions, in [0, 0.5] (the native code
    wraps differences above 0.5), the same scale for every image."""
    blurred = _box_blur(image.astype(np.float32), GUIDE_BLUR).reshape(-1, 3)
    centred = blurred - blurred.mean(axis=0)
    _, _, axes = np.linalg.svd(centred[:: max(1, len(centred) // 65536)], full_matrices=False)
    projected = centred @ axes[:2].T  # within +-255 * sqrt(3) whatever the axes
    out = np.zeros(image.shape[:2] + (3,), np.float32)
    out[..., :2] = (0.25 + projected / (4 * 255 * np.sqrt(3))).reshape(image.shape[:2] + (2,))
    return out


def _box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over (2r+1)^2 px, edges repeated: two passes of running sums."""
    for axis in (0, 1):
        pad = [(0, 0)] * a.ndim
        pad[axis] = (radius + 1, radius)
        sums = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
        n = a.shape[axis]
        a = ((np.take(sums, np.arange(2 * radius + 1, n + 2 * radius + 1), axis=axis)
              - np.take(sums, np.arange(0, n), axis=axis)) / (2 * radius + 1)).astype(np.float32)
    return a


def _inpaint(image: np.ndarray, mask: np.ndarray, void: np.ndarray | None, patch_size: int, seed: int,
             guide: np.ndarray | None = None, weight: float = 0.0) -> np.ndarray:
    image = np.ascontiguousarray(image)
    mask = np.asarray(mask, bool)
    void = None if void is None else np.asarray(void, bool)
    ignore = None if void is None or not void.any() else void.view(np.uint8)
    out = _patch_match(image, mask, ignore, patch_size, seed, guide, weight)
    known = ~mask if ignore is None else ~(mask | void)
    seam = mask & (distance_l1(known) <= SEAM_STRIP)
    if not seam.any() or np.array_equal(seam, mask):
        return out  # nothing known to join, or the strip would be the whole mask again
    beside = known & (distance_l1(mask) <= NEAR)
    valid = None if ignore is None else ~void
    best, best_ratio = out, np.inf
    for k in range(SEAM_TRIES):
        tried = _patch_match(out, seam, ignore, patch_size, seed + k, guide, weight)
        ratio = seam_ratio(tried, mask, beside, valid=valid)
        if best is out or ratio < best_ratio:  # nan (no pairs to compare) keeps the first
            best, best_ratio = tried, ratio
    return best


def _patch_match(image: np.ndarray, hole: np.ndarray, ignore: np.ndarray | None, patch_size: int, seed: int,
                 guide: np.ndarray | None = None, weight: float = 0.0) -> np.ndarray:
    from patchmatch import patch_match

    # The native seed is global state of the library: set it right before each call so
    # equal inputs give equal pixels, whatever ran before (or beside, in another thread).
    with _NATIVE:
        patch_match.set_random_seed(seed)
        if guide is not None:
            return patch_match.inpaint_regularity(image, hole.view(np.uint8), guide, global_mask=ignore,
                                                  patch_size=patch_size, guide_weight=weight)
        return patch_match.inpaint(image, hole.view(np.uint8), global_mask=ignore, patch_size=patch_size)


def _plain_fill(image: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    filled = prefill(image, mask, "edge", seed=seed).astype(np.int16)
    noise = np.random.default_rng(seed).normal(0, 6, size=filled.shape).astype(np.int16)
    filled[mask] += noise[mask]
    return np.clip(filled, 0, 255).astype(np.uint8)
