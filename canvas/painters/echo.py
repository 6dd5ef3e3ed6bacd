"""A painter that paints nothing: it returns its input.

Not offered to users. It measures the job path without a painter's own time
(bench/overhead.py) and lets tests check the path's geometry without PatchMatch's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from canvas.painters.base import CancelToken, PaintRequest, ProgressCallback


class EchoPainter:
    name = "echo"
    repaints_band = True

    def describe(self) -> dict[str, Any]:
        return {"painter": self.name}

    def paint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        request: PaintRequest,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> list[np.ndarray]:
        return [image.copy() for _ in range(max(1, request.candidates))]
