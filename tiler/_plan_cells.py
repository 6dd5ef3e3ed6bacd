"""Cell-grid bookkeeping for the window planner (``tiler.planner``).

The planner works on 8 x 8 px cells of the absolute canvas grid. Windows are whole cells,
so per-cell counts give exact pixel counts, and summed-area tables give the counts under
every position of one window size in a few vectorised operations. The tables that change
while a plan is built are updated in place when a window is painted, in time proportional
to the part of the table that changes, instead of being rebuilt for every window.

    >>> s = sat(np.ones((4, 4), np.int64))
    >>> box(s, 2, 3)                    # the 2 x 3 boxes at every position: 6 cells each
    array([[6, 6],
           [6, 6],
           [6, 6]])
"""

from __future__ import annotations

import numpy as np

from tiler.rect import Rect

CELL = 8  # px; window sides are multiples of 64, hence whole cells


def sat(a: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """Summed-area table of ``a`` with a zero first row and column."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype)
    np.cumsum(np.cumsum(a, axis=0, dtype=dtype), axis=1, out=s[1:, 1:])
    return s


def box(s: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sums over every h x w box; entry [i, j] is the box whose corner is cell (i, j)."""
    return s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]


def box_at(s: np.ndarray, i: np.ndarray, j: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sums over the h x w boxes with corner cells (i, j)."""
    return s[i + h, j + w] - s[i, j + w] - s[i + h, j] + s[i, j]


class Table:
    """A per-cell array and its summed-area table, kept in step."""

    def __init__(self, vals: np.ndarray, dtype: type) -> None:
        self.vals = vals.astype(dtype)
        self.sat = sat(self.vals, dtype)

    def assign(self, i0: int, i1: int, j0: int, j1: int, new: np.ndarray | int) -> None:
        """Set cells [i0, i1) x [j0, j1) and update only the table entries below-right."""
        delta = np.asarray(new, self.vals.dtype) - self.vals[i0:i1, j0:j1]
        self.vals[i0:i1, j0:j1] += delta
        d = np.cumsum(np.cumsum(delta, axis=0), axis=1)
        s = self.sat
        s[i0 + 1 : i1 + 1, j0 + 1 : j1 + 1] += d
        s[i0 + 1 : i1 + 1, j1 + 1 :] += d[:, -1:]
        s[i1 + 1 :, j0 + 1 : j1 + 1] += d[-1:, :]
        s[i1 + 1 :, j1 + 1 :] += d[-1, -1]


class Cells:
    """Pixel counts per cell over ``area``, cells counted from its corner; fixed for a plan.

    The grid starts at the area's corner (not at canvas 0, 0) so that the caller decides
    what windows align to: the job runner puts the corner one window outside the target's
    bounding box, so windows can cut exactly along the known content's edges.
    """

    def __init__(self, known: np.ndarray, target: np.ndarray, area: Rect) -> None:
        self.rect = Rect(area.x, area.y, area.w // CELL * CELL, area.h // CELL * CELL)
        inner = self.rect.relative_to(area).slices
        tgt = target[inner]
        self.target_outside = np.count_nonzero(tgt) != np.count_nonzero(target)
        self.h, self.w = self.rect.h // CELL, self.rect.w // CELL
        # Pixel counts fit int32 up to a 46k px square; half the memory traffic of int64,
        # and memory traffic is most of the planner's time.
        self.dtype = np.int32 if self.rect.area < 2**31 else np.int64
        self.known = _count(known[inner] & ~tgt, self.h, self.w)  # context from the start
        self.target = _count(tgt, self.h, self.w)
        # Context a window would have with all target painted; minus what is still to
        # paint, that is its context now. Waste (unknown, not target) never changes.
        self.full_context_sat = sat(self.known + self.target, self.dtype)
        self.waste_sat = sat(CELL * CELL - self.known - self.target, self.dtype)

    def window_rect(self, i: int, j: int, h: int, w: int) -> Rect:
        return Rect(self.rect.x + j * CELL, self.rect.y + i * CELL, w * CELL, h * CELL)


_BITS_SET = np.array([bin(b).count("1") for b in range(256)], np.uint8)


def _count(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Set pixels per 8 x 8 cell. Packing 8 px to a byte first is 4x faster than a sum."""
    row_counts = _BITS_SET[np.packbits(mask, axis=1)]  # per 8 px of a row
    return row_counts.reshape(h, CELL, w).sum(axis=1, dtype=np.int64)


class Paint:
    """The target still to paint while one plan is built, and the tables that follow it."""

    def __init__(self, cells: Cells, edges: bool = True) -> None:
        todo = cells.target.copy()
        self.remaining = int(todo.sum())
        self.todo = Table(todo, cells.dtype)
        # First moments of the target still to paint, in half cells from the grid corner:
        # they give the centroid of what a window would paint.
        self._rows = np.arange(cells.h, dtype=np.int64)[:, None] * 2 + 1
        self._cols = np.arange(cells.w, dtype=np.int64)[None, :] * 2 + 1
        self.row_moment = Table(todo * self._rows, np.int64)  # these outgrow int32
        self.col_moment = Table(todo * self._cols, np.int64)
        # Whether a cell is still to paint, padded with a ring of "no" for the grid outside.
        self._open = np.pad(todo > 0, 1).astype(np.int64)
        # The tables for ``ragged``, kept only if asked for: they are most of the upkeep.
        self._edges: list[Table] = []
        if edges:
            self._edges = [Table(e, cells.dtype) for e in self._edge_vals(0, cells.h, 0, cells.w)]

    def paint(self, i: int, j: int, h: int, w: int) -> int:
        """Paint the target in the window; return the pixels painted."""
        new = int(self.todo.vals[i : i + h, j : j + w].sum())
        self.remaining -= new
        for table in (self.todo, self.row_moment, self.col_moment):
            table.assign(i, i + h, j, j + w, 0)
        self._open[i + 1 : i + h + 1, j + 1 : j + w + 1] = 0
        if not self._edges:
            return new
        # Boundary edges change in the window and in the ring of cells around it.
        r0, r1 = max(0, i - 1), min(self.todo.vals.shape[0], i + h + 1)
        c0, c1 = max(0, j - 1), min(self.todo.vals.shape[1], j + w + 1)
        for table, vals in zip(self._edges, self._edge_vals(r0, r1, c0, c1)):
            table.assign(r0, r1, c0, c1, vals)
        return new

    def _edge_vals(self, r0: int, r1: int, c0: int, c1: int) -> list[np.ndarray]:
        u = self._open
        core = u[r0 + 1 : r1 + 1, c0 + 1 : c1 + 1]
        right, below = u[r0 + 1 : r1 + 1, c0 + 2 : c1 + 2], u[r0 + 2 : r1 + 2, c0 + 1 : c1 + 1]
        left, above = u[r0 + 1 : r1 + 1, c0:c1], u[r0:r1, c0 + 1 : c1 + 1]
        return [
            (core != right).astype(np.int64),  # boundary edge to the right of the cell
            (core != below).astype(np.int64),  # boundary edge below the cell
            # On a window's border, an edge whose inner cell is still to paint becomes a
            # boundary edge if the outer cell is to paint too (+1), else stops being one (-1).
            core * (2 * left - 1),
            core * (2 * right - 1),
            core * (2 * above - 1),
            core * (2 * below - 1),
        ]

    def ragged(self, i: np.ndarray, j: np.ndarray, h: int, w: int) -> np.ndarray:
        """How much the boundary of the target still to paint grows, in cell edges, if the
        h x w windows at (i, j) are painted. Less leaves fewer, straighter fronts."""
        to_right, below, left, right, top, bottom = (t.sat for t in self._edges)
        return (
            box_at(left, i, j, h, 1)
            + box_at(right, i, j + w - 1, h, 1)
            + box_at(top, i, j, 1, w)
            + box_at(bottom, i + h - 1, j, 1, w)
            - box_at(to_right, i, j, h, w - 1)  # edges inside the window stop being boundary
            - box_at(below, i, j, h - 1, w)
        )

    def offsets(
        self, i: np.ndarray, j: np.ndarray, h: int, w: int, new: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Offset (dy, dx), in cells, of the centroid of what the windows would paint from
        their centres."""
        n = np.maximum(new, 1).astype(np.float64)
        dy = (box_at(self.row_moment.sat, i, j, h, w) - new * (2 * i + h)) / (2 * n)
        dx = (box_at(self.col_moment.sat, i, j, h, w) - new * (2 * j + w)) / (2 * n)
        return dy, dx
