"""The default painter: exemplar-based completion by PatchMatch, no weights, no GPU.

It copies patches of the window's known pixels into the masked ones through the
`pypatchmatch` wheel. Where its native library cannot load, it falls back to the
tiler's edge-extension fill plus a little seeded noise, so the canvas still grows
(plainly) instead of failing.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from canvas.painters.base import CancelToken, PaintProgress, PaintRequest, ProgressCallback
from tiler.prefill import patchmatch_available, prefill

log = logging.getLogger(__name__)


class PatchMatchPainter:
    name = "patchmatch"
    # PatchMatch copies whole patches across the hole's border, so it matches the known
    # pixels there itself; it fills only the unknown part (see Painter.repaints_band).
    repaints_band = False

    def __init__(self, patch_size: int = 3) -> None:
        if not 1 <= int(patch_size) <= 32:
            raise ValueError(f"patch size must be between 1 and 32, got {patch_size}")
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
    ) -> list[np.ndarray]:
        patch_size = int(request.options.get("patch_size", self.patch_size))
        results = []
        for i in range(max(1, request.candidates)):
            cancel.raise_if_cancelled()
            seed = request.seed + i
            if self.native:
                results.append(_inpaint(image, mask, patch_size, seed))
            else:
                results.append(_plain_fill(image, mask, seed))
            progress(PaintProgress(step=i + 1, steps=request.candidates))
        return results


def _inpaint(image: np.ndarray, mask: np.ndarray, patch_size: int, seed: int) -> np.ndarray:
    from patchmatch import patch_match

    # The native seed is global state of the library: set it right before each call so
    # equal inputs give equal pixels, whatever ran before.
    patch_match.set_random_seed(seed)
    return patch_match.inpaint(
        np.ascontiguousarray(image), mask.astype(np.uint8) * 255, patch_size=patch_size
    )


def _plain_fill(image: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    filled = prefill(image, mask, "edge", seed=seed).astype(np.int16)
    noise = np.random.default_rng(seed).normal(0, 6, size=filled.shape).astype(np.int16)
    filled[mask] += noise[mask]
    return np.clip(filled, 0, 255).astype(np.uint8)
