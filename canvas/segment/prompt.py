"""What a user points at: positive and negative clicks and an optional box, in the pixels
of one region (0, 0 is its top-left corner), checked without torch.

    prompt = SegmentPrompt.of(points=[(120, 80)], labels=[1], box=None, size=(512, 512))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

MAX_POINTS = 16  # clicks of one selection: SAM's decoder is trained on a handful


class SegmentError(ValueError):
    """A wrong segmenter model, or a prompt that cannot be segmented: one line for the user."""


@dataclass(frozen=True)
class SegmentPrompt:
    points: tuple[tuple[float, float], ...]  # (x, y) in the region's pixels
    labels: tuple[int, ...]  # 1: in the segment, 0: not in it, one per point
    box: tuple[float, float, float, float] | None  # x0, y0, x1, y1 in the region's pixels

    @classmethod
    def of(cls, points: Sequence[Sequence[Any]], labels: Sequence[Any] | None, box: Sequence[Any] | None,
           size: tuple[int, int]) -> "SegmentPrompt":
        """Checked: every point and the box inside the region of `size` (w, h), labels 0 or 1
        (default: all 1), at least one positive point or a box."""
        w, h = size
        points = list(points or [])
        if len(points) > MAX_POINTS:
            raise SegmentError(f"at most {MAX_POINTS} points, got {len(points)}")
        checked = []
        for point in points:
            if not isinstance(point, (list, tuple)) or len(point) != 2 or not all(_finite(v) for v in point):
                raise SegmentError(f"a point is two numbers [x, y], got {_show(point)}")
            x, y = float(point[0]), float(point[1])
            if not (0 <= x < w and 0 <= y < h):
                raise SegmentError(f"the point ({x:g}, {y:g}) is outside the {w}x{h} region")
            checked.append((x, y))
        labels = [1] * len(checked) if labels is None else list(labels)
        if len(labels) != len(checked) or any(label not in (0, 1) or isinstance(label, bool) for label in labels):
            raise SegmentError(f"labels are one 1 (in) or 0 (out) per point: {len(checked)} points, labels {_show(labels)}")
        checked_box = None
        if box is not None:
            if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(_finite(v) for v in box):
                raise SegmentError(f"a box is four numbers [x0, y0, x1, y1], got {_show(box)}")
            x0, y0, x1, y1 = (float(v) for v in box)
            if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
                raise SegmentError(f"the box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) must have x0 < x1, y0 < y1 and lie in the {w}x{h} region")
            checked_box = (x0, y0, x1, y1)
        if checked_box is None and 1 not in labels:
            raise SegmentError("say what to select: at least one positive point (label 1) or a box")
        return cls(tuple(checked), tuple(int(label) for label in labels), checked_box)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
