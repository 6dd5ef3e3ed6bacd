"""Integer rectangles on the unbounded canvas grid, and moving them between levels.

Coordinates are pixels at one level, unbounded in every direction (negative included),
y pointing down. A level-L pixel covers 2**L x 2**L level-0 pixels.

    >>> Rect(0, 0, 512, 512).union(Rect(512, 0, 256, 512))
    Rect(x=0, y=0, w=768, h=512)
    >>> Rect(-3, 5, 10, 10).to_level(0, 1)          # the level-1 pixels that cover it
    Rect(x=-2, y=2, w=6, h=6)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True, slots=True)
class Rect:
    """A half-open box [x, x + w) x [y, y + h); empty when w or h is 0."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        if self.w < 0 or self.h < 0:
            raise ValueError(f"negative size in {self!r}")

    @classmethod
    def from_edges(cls, x0: int, y0: int, x1: int, y1: int) -> Rect:
        return cls(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def empty(self) -> bool:
        return self.w == 0 or self.h == 0

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index a numpy array whose origin is (0, 0) of this grid: ``arr[r.slices]``."""
        return slice(self.y, self.y1), slice(self.x, self.x1)

    def relative_to(self, origin: Rect) -> Rect:
        """The same box in the coordinates of an array that starts at ``origin``'s corner."""
        return Rect(self.x - origin.x, self.y - origin.y, self.w, self.h)

    def translate(self, dx: int, dy: int) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.w, self.h)

    def intersect(self, other: Rect) -> Rect:
        return Rect.from_edges(
            max(self.x, other.x), max(self.y, other.y), min(self.x1, other.x1), min(self.y1, other.y1)
        )

    def intersects(self, other: Rect) -> bool:
        return not self.intersect(other).empty

    def contains(self, other: Rect) -> bool:
        return (
            self.x <= other.x and self.y <= other.y and other.x1 <= self.x1 and other.y1 <= self.y1
        )

    def union(self, other: Rect) -> Rect:
        """The smallest box holding both; an empty box counts as nothing."""
        if self.empty:
            return other
        if other.empty:
            return self
        return Rect.from_edges(
            min(self.x, other.x), min(self.y, other.y), max(self.x1, other.x1), max(self.y1, other.y1)
        )

    def grow(self, left: int, top: int | None = None, right: int | None = None, bottom: int | None = None) -> Rect:
        """Extend each side outwards (negative shrinks); ``grow(n)`` grows all four by n."""
        top = left if top is None else top
        right = left if right is None else right
        bottom = top if bottom is None else bottom
        return Rect.from_edges(self.x - left, self.y - top, self.x1 + right, self.y1 + bottom)

    def to_level(self, level: int, target: int) -> Rect:
        """The smallest box at level ``target`` that covers this box given at ``level``."""
        if target >= level:
            s = target - level
            return Rect.from_edges(self.x >> s, self.y >> s, -((-self.x1) >> s), -((-self.y1) >> s))
        s = level - target
        return Rect(self.x << s, self.y << s, self.w << s, self.h << s)

    def tiles(self, size: int) -> Iterator[tuple[int, int]]:
        """Indices (tx, ty) of the ``size`` x ``size`` grid cells this box touches, row by row."""
        if self.empty:
            return
        for ty in range(self.y // size, (self.y1 - 1) // size + 1):
            for tx in range(self.x // size, (self.x1 - 1) // size + 1):
                yield tx, ty

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


def mask_bounds(mask: np.ndarray) -> Rect:
    """The bbox of the True pixels of a 2D mask, in array coordinates; empty when none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return Rect(0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    return Rect.from_edges(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
