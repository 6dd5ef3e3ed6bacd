"""Plan generation windows over one canvas level: where to paint, and in which order.

Given a ``known`` map and a ``target`` map over ``area`` (boolean arrays of shape
``(area.h, area.w)``, array index ``[0, 0]`` is the canvas pixel ``(area.x, area.y)``),
``plan_windows`` returns windows, in paint order, that together cover every target pixel.

    >>> import numpy as np
    >>> area = Rect(-512, -512, 1536, 1536)             # the image at (0, 0), grown by 512
    >>> known = np.zeros((area.h, area.w), bool); known[512:1024, 512:1024] = True
    >>> target = np.zeros_like(known); target[512:1024, 1024:1280] = True   # +256 right
    >>> [w.rect for w in plan_windows(known, target, area)]
    [Rect(x=256, y=0, w=512, h=512)]

The rules a plan follows:

- Window sides are multiples of 64 between ``min_side`` and ``window``; windows lie inside
  ``area`` on the absolute 8 px grid (canvas coordinates that are multiples of 8).
- A window paints the target pixels inside it that no earlier window painted. When it is
  painted, at least ``context`` of its area must already be known (known and not target:
  known & target counts as to-be-painted) or painted by earlier windows.
- Windows are picked greedily: among the windows that satisfy the context rule prefer the
  most new target pixels, then the smallest area, then the least waste (unknown pixels
  that are not target), then the new pixels best centred in the window (so context lies
  all around them), then the top-most, left-most, flattest, narrowest. Equal input gives
  equal output.
- Best effort: when no window satisfies the context rule (a tiny image to grow a lot, or
  nothing known at all), the window with the highest context fraction among those that
  paint something is taken, ties broken as above, and flagged ``context_ok=False``. With
  nothing known at all this is the top-left-most window that paints the most target.
  Planning never fails for lack of context; it only raises ``ValueError`` on bad input.

Speed: the maps are reduced once to per-cell counts on an 8 x 8 px grid. Windows are whole
cells, so cell counts give exact pixel counts, and summed-area tables score every position
of one window size in a few vectorised numpy operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiler.rect import Rect

STRAT = None
BAND = None
ORDER = ['waste', 'ragged', 'off']
CELL = 8  # px; window sides are multiples of 64, hence whole cells
SIDE_STEP = 64
MAX_WINDOW = 1024
MIN_WINDOW = 512


@dataclass(frozen=True)
class Window:
    """One generation window, at the plan's level, in absolute canvas coordinates."""

    rect: Rect
    after: tuple[int, ...]  # earlier windows whose rect intersects this one: paint them first
    new_px: int  # target pixels this window paints
    context: float  # fraction of its area known or painted when it is painted
    context_ok: bool = True  # False: best effort, ``context`` is below the plan's minimum


def plan_windows(
    known: np.ndarray,
    target: np.ndarray,
    area: Rect,
    *,
    window: int = 512,
    min_side: int = 512,
    context: float = 0.25,
) -> list[Window]:
    """Windows, in paint order, that cover every ``target`` pixel (see the module docstring)."""
    known, target = _validate(known, target, area, window, min_side, context)
    if not target.any():
        return []
    grid = _Cells(known, target, area)
    if grid.target_outside:
        raise ValueError(
            f"target pixels lie outside the 8 px aligned interior {grid.rect} of area {area}"
        )
    if grid.rect.w < min_side or grid.rect.h < min_side:
        raise ValueError(f"area {area} cannot hold a {min_side} px window around the target")

    sides = range(min_side // CELL, window // CELL + 1, SIDE_STEP // CELL)
    sizes = [(h, w) for h in sides for w in sides]  # in cells
    plan: list[Window] = []
    global BAND
    band = None
    if STRAT:
        ys, xs = np.nonzero(grid.ctx0)
        if STRAT == 'rows': band = (0, ys.min(), ys.max() + 1)
        else: band = (1, xs.min(), xs.max() + 1)
    BAND = band
    while grid.remaining > 0:
        pick = _pick(grid, sizes, context)
        if pick is None:
            BAND = None
            continue
        i, j, h, w, new, ctx_px = pick
        rect = Rect(grid.rect.x + j * CELL, grid.rect.y + i * CELL, w * CELL, h * CELL)
        after = tuple(k for k, prev in enumerate(plan) if prev.rect.intersects(rect))
        plan.append(
            Window(rect, after, new, ctx_px / rect.area, ctx_px >= _need(context, rect.area))
        )
        grid.paint(i, j, h, w)
    return plan


def critical_path(windows: list[Window]) -> int:
    """Windows on the longest chain through ``after``: the rounds of a parallel painter."""
    depth: list[int] = []
    for win in windows:
        depth.append(1 + max((depth[k] for k in win.after), default=0))
    return max(depth, default=0)


def _validate(
    known: np.ndarray, target: np.ndarray, area: Rect, window: int, min_side: int, context: float
) -> tuple[np.ndarray, np.ndarray]:
    known, target = np.asarray(known), np.asarray(target)
    if known.shape != (area.h, area.w) or target.shape != (area.h, area.w):
        raise ValueError(
            f"known {known.shape} and target {target.shape} must both be (area.h, area.w) "
            f"= {(area.h, area.w)}"
        )
    if window % SIDE_STEP or not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(f"window {window} must be a multiple of 64 in {MIN_WINDOW}..{MAX_WINDOW}")
    if min_side % SIDE_STEP or not MIN_WINDOW <= min_side <= window:
        raise ValueError(f"min_side {min_side} must be a multiple of 64 in {MIN_WINDOW}..window")
    if not 0.0 <= context <= 0.9:
        raise ValueError(f"context {context} must be in [0, 0.9]")
    return known.astype(bool, copy=False), target.astype(bool, copy=False)


def _need(context: float, area: int) -> int:
    """Context pixels a window of ``area`` px needs; the epsilon absorbs float noise."""
    return max(0, math.ceil(context * area - 1e-9))


class _Cells:
    """Per-cell pixel counts over the 8 px aligned interior of the area, and paint state."""

    def __init__(self, known: np.ndarray, target: np.ndarray, area: Rect) -> None:
        x0, y0 = -(-area.x // CELL) * CELL, -(-area.y // CELL) * CELL
        x1, y1 = area.x1 // CELL * CELL, area.y1 // CELL * CELL
        self.rect = Rect.from_edges(x0, y0, max(x0, x1), max(y0, y1))
        inner = self.rect.relative_to(area).slices
        tgt = target[inner]
        self.target_outside = int(np.count_nonzero(tgt)) != int(np.count_nonzero(target))
        self.h, self.w = self.rect.h // CELL, self.rect.w // CELL
        self.ctx0 = _count(known[inner] & ~tgt, self.h, self.w)  # known, not to be painted
        self.tall = _count(tgt, self.h, self.w)
        self.todo = self.tall.copy()  # target not yet painted
        # waste does not change while painting: one table for the whole plan
        self.waste_sat = _sat(CELL * CELL - self.ctx0 - self.tall)
        self.remaining = int(self.todo.sum())

    def paint(self, i: int, j: int, h: int, w: int) -> None:
        self.remaining -= int(self.todo[i : i + h, j : j + w].sum())
        self.todo[i : i + h, j : j + w] = 0


def _count(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Set pixels per 8 x 8 cell, as int64."""
    cells = mask.reshape(h, CELL, w, CELL).astype(np.uint8)
    return cells.sum(axis=(1, 3), dtype=np.int64)


def _sat(a: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1), np.int64)
    np.cumsum(np.cumsum(a, axis=0), axis=1, out=s[1:, 1:])
    return s


def _box(s: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sums over every h x w box; entry [i, j] is the box whose corner is cell (i, j)."""
    return s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]


def _pick(grid: _Cells, sizes: list[tuple[int, int]], context: float) -> tuple[int, ...]:
    """The next window as (i, j, h, w, new_px, context_px), cells for place and size."""
    todo = grid.todo
    rows = np.arange(grid.h, dtype=np.int64)[:, None] * 2 + 1  # cell centres, in half cells
    cols = np.arange(grid.w, dtype=np.int64)[None, :] * 2 + 1
    tables = _Tables(
        new=_sat(todo),
        ctx=_sat(grid.ctx0 + grid.tall - todo),  # known, plus target already painted
        waste=grid.waste_sat,
        my=_sat(todo * rows),
        mx=_sat(todo * cols),
        edges=_Edges(todo > 0),
    )
    fitting = [(h, w) for h, w in sizes if h <= grid.h and w <= grid.w]
    # Try sizes by what they could paint at best, so most of them can be skipped.
    def bound(hw: tuple[int, int]) -> int:
        px = hw[0] * hw[1] * CELL * CELL
        return min(grid.remaining, px - _need(context, px))

    best: tuple | None = None
    for h, w in sorted(fitting, key=lambda hw: (-bound(hw), hw[0] * hw[1], hw)):
        if best is not None and (bound((h, w)), -h * w * CELL * CELL) < (-best[0], -best[1]):
            continue  # cannot beat the best: fewer new pixels, or as many with more area
        cand = tables.best(h, w, context, best_effort=False)
        if cand is not None and (best is None or cand < best):
            best = cand
    if best is None and BAND is not None:
        return None
    if best is None:  # nothing satisfies the context rule: best effort, flagged by the caller
        for h, w in fitting:
            cand = tables.best(h, w, context, best_effort=True)
            if cand is not None and (best is None or cand < best):
                best = cand
    assert best is not None, "a window always paints something while target remains"
    *_, i, j, h, w, new, ctx_px = best
    return i, j, h, w, new, ctx_px


@dataclass
class _Tables:
    """Summed-area tables of one planning step; ``best`` ranks the positions of one size."""

    new: np.ndarray
    ctx: np.ndarray
    waste: np.ndarray
    my: np.ndarray
    mx: np.ndarray
    edges: _Edges

    def best(self, h: int, w: int, context: float, best_effort: bool) -> tuple | None:
        """Sort key (smaller is better) of the best h x w position, or None if none qualifies.

        Key: ([-context fraction,] -new, area, waste, off-centre, i, j, h, w, new, context).
        """
        px = h * w * CELL * CELL
        new = _box(self.new, h, w)
        ctx = _box(self.ctx, h, w)
        ok = new > 0
        if BAND is not None:
            ax, lo, hi = BAND
            if ax == 0:
                ok[:lo] = False; ok[max(lo, hi - h + 1):] = False
            else:
                ok[:, :lo] = False; ok[:, max(lo, hi - w + 1):] = False
        if not best_effort:
            ok &= ctx >= _need(context, px)
        ii, jj = np.nonzero(ok)  # row-major: ties resolve to the top-most, left-most
        if ii.size == 0:
            return None
        n, c = new[ii, jj], ctx[ii, jj]
        keep = c == c.max() if best_effort else np.ones(ii.size, bool)
        keep &= n == n[keep].max()
        ii, jj, n, c = ii[keep], jj[keep], n[keep], c[keep]
        vals = []
        for name in ORDER:
            if name == "waste":
                m = _box(self.waste, h, w)[ii, jj]
            elif name == "ragged":
                m = self.edges.change(ii, jj, h, w)
            elif name in ("off", "vert", "horiz"):
                oy = (_box(self.my, h, w)[ii, jj] - n * (2 * ii + h)).astype(np.float64)
                ox = (_box(self.mx, h, w)[ii, jj] - n * (2 * jj + w)).astype(np.float64)
                m = {"off": oy**2 + ox**2, "vert": np.abs(oy), "horiz": np.abs(ox)}[name] / np.maximum(n, 1) ** 2
            keep = m == m.min()
            ii, jj, n, c, m = ii[keep], jj[keep], n[keep], c[keep], m[keep]
            vals.append(float(m[0]))
        i, j, nk, ck = int(ii[0]), int(jj[0]), int(n[0]), int(c[0])
        key = (-nk, px, *vals, i, j, h, w, nk, ck)
        return (-ck / px, *key) if best_effort else key


class _Edges:
    """How much the boundary of the unpainted target grows when a window paints it away.

    Counted in cell edges; a smaller change leaves fewer, straighter fronts to paint later,
    which is what keeps a plan of many windows close to the ideal (see bench/planner.py).
    """

    def __init__(self, todo: np.ndarray) -> None:
        u = np.pad(todo.astype(np.int64), 1)  # outside the grid counts as not to paint
        core = u[1:-1, 1:-1]
        # Edges inside the window stop being boundary: tables of boundary edges.
        self.horizontal = _sat(core[:, :-1] != core[:, 1:])  # between (r, c) and (r, c+1)
        self.vertical = _sat(core[:-1, :] != core[1:, :])  # between (r, c) and (r+1, c)
        # An edge on the window's border, with its inner cell to paint, becomes boundary
        # when the outer cell is to paint too (+1) and stops being one otherwise (-1).
        self.left = _sat(core * (2 * u[1:-1, :-2] - 1))
        self.right = _sat(core * (2 * u[1:-1, 2:] - 1))
        self.top = _sat(core * (2 * u[:-2, 1:-1] - 1))
        self.bottom = _sat(core * (2 * u[2:, 1:-1] - 1))

    def change(self, i: np.ndarray, j: np.ndarray, h: int, w: int) -> np.ndarray:
        """Boundary change for the h x w windows with corner cells (i, j)."""
        return (
            _area(self.left, i, j, h, 1)
            + _area(self.right, i, j + w - 1, h, 1)
            + _area(self.top, i, j, 1, w)
            + _area(self.bottom, i + h - 1, j, 1, w)
            - _area(self.horizontal, i, j, h, w - 1)
            - _area(self.vertical, i, j, h - 1, w)
        )


def _area(s: np.ndarray, i: np.ndarray, j: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sums over the h x w boxes with corners (i, j), from summed-area table ``s``."""
    return s[i + h, j + w] - s[i, j + w] - s[i + h, j] + s[i, j]
