"""Plan generation windows over one canvas level: where to paint, and in which order.

Given a ``known`` map and a ``target`` map over ``area`` (boolean arrays of shape
``(area.h, area.w)``; array index ``[0, 0]`` is the canvas pixel ``(area.x, area.y)``),
``plan_windows`` returns windows, in paint order, that together cover every target pixel.

    >>> import numpy as np
    >>> area = Rect(-512, -512, 1536, 1536)             # the image at (0, 0), grown by 512
    >>> known = np.zeros((area.h, area.w), bool); known[512:1024, 512:1024] = True
    >>> target = np.zeros_like(known); target[512:1024, 1024:1280] = True   # +256 right
    >>> [(w.rect, w.new_px, w.context) for w in plan_windows(known, target, area)]
    [(Rect(x=256, y=0, w=512, h=512), 131072, 0.5)]

The rules a plan follows:

- Window sides are multiples of 64 from ``min_side`` to ``window``. Windows lie inside
  ``area``, at multiples of 8 px from the area's corner (so the caller chooses what
  windows align to; the job runner puts that corner one window outside the target).
- A window paints the target pixels inside it that no earlier window painted. When it is
  painted, at least ``context`` of its area must be known (known and not target: a pixel
  both known and target counts as to be painted) or painted by earlier windows.
- Windows are chosen greedily, one at a time. Among the windows that keep the context rule
  prefer the most new target pixels, then the smallest area, then the least waste
  (unknown pixels that are not target), then the new pixels best centred in the window (so
  context lies all around them), then the top-most, left-most. So three small holes
  farther apart than a window get three small windows, not one big one.
- Best effort: when no window keeps the context rule (a tiny image to grow a lot, or
  nothing known at all) the window with the highest context fraction among those that
  paint something is taken, ties broken as above, and flagged ``context_ok=False``. With
  nothing known at all, that is the top-left window that paints the most. Planning never
  fails for lack of context; it raises ``ValueError`` only on bad arguments.
- ``after`` lists the earlier windows whose rects intersect or touch the window's (meet
  its rect grown by one pixel): a window reads the known map of the one-pixel ring around
  it (its masks blend towards known neighbours), so an earlier window that only touches it
  still changes what it paints. Windows farther apart do not depend on each other and may
  be painted in parallel, in any order, with the same result.

Greedy choice is short-sighted: growing a small image a lot, it leaves slivers that cost
extra windows. So a few variants of the greedy plan are built, and the plan with the
fewest flagged windows, then the fewest processed pixels (the sum of window areas), then
the fewest windows, then the shortest critical path wins; on a tie, the first variant.
Besides the rules as stated, the variants are: most new pixels *per window pixel* first
(differs only when window sizes vary: small holes a bit closer than a window stay in
small windows), and two strip-wise plans, which first grow only within the rows the known
image spans (or its columns), then across in layers, with two more tie-breaks after the
waste: keep the front still to paint short and straight, then grow across the strip.
Growing 512 px to a 2048 px square that way takes the ideal 20 windows of 512.

Speed: the maps are reduced once to counts on 8 x 8 px cells; summed-area tables score
every position of a window size at once (see ``tiler._plan_cells``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiler._plan_cells import CELL, Cells, Paint, box, box_at
from tiler.rect import Rect

SIDE_STEP = 64
MIN_WINDOW, MAX_WINDOW = 512, 1024
MAX_CONTEXT = 0.9


@dataclass(frozen=True)
class Window:
    """One generation window, at the plan's level, in absolute canvas coordinates."""

    rect: Rect
    after: tuple[int, ...]  # earlier windows whose rect meets this one's grown by 1 px: paint them first
    new_px: int  # target pixels this window paints
    context: float  # fraction of its area known or painted when it is painted
    context_ok: bool = True  # False: best effort, ``context`` is below the plan's minimum


@dataclass(frozen=True)
class _Strategy:
    band: int | None  # grow first within the known rows (0) or columns (1), or no band
    order: tuple[str, ...]  # what to prefer, in turn; "new" means: then the smaller window


_STRATEGIES = (
    _Strategy(None, ("new", "waste", "centred")),  # the rules as stated
    _Strategy(None, ("yield", "new", "waste", "centred")),  # new px per window px first
    _Strategy(0, ("new", "waste", "ragged", "dx", "centred")),  # rows, then up and down
    _Strategy(1, ("new", "waste", "ragged", "dy", "centred")),  # columns, then sideways
)


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
    cells = Cells(known, target, area)
    if cells.target_outside:
        raise ValueError(f"target lies outside {cells.rect}, the part of area {area} made of whole 8 px cells")
    if cells.rect.w < min_side or cells.rect.h < min_side:
        raise ValueError(f"area {area} cannot hold a {min_side} px window on the 8 px grid")
    sides = range(min_side // CELL, window // CELL + 1, SIDE_STEP // CELL)
    sizes = [(h, w) for h in sides for w in sides]  # in cells
    # With one window size, most new px per window px is just most new px: skip the copy.
    strategies = [s for s in _STRATEGIES if len(sizes) > 1 or "yield" not in s.order]
    plans = [_plan(cells, sizes, context, s) for s in strategies]
    return min(plans, key=_cost)  # min keeps the first of equals: deterministic


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
            f"known {known.shape} and target {target.shape} must both have the shape "
            f"(area.h, area.w) = {(area.h, area.w)}"
        )
    if window % SIDE_STEP or not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(f"window {window} must be a multiple of 64 in {MIN_WINDOW}..{MAX_WINDOW}")
    if min_side % SIDE_STEP or not MIN_WINDOW <= min_side <= window:
        raise ValueError(f"min_side {min_side} must be a multiple of 64 in {MIN_WINDOW}..window")
    if not 0.0 <= context <= MAX_CONTEXT:
        raise ValueError(f"context {context} must be in [0, {MAX_CONTEXT}]")
    return known.astype(bool, copy=False), target.astype(bool, copy=False)


def _need(context: float, px: int) -> int:
    """Context pixels a window of ``px`` pixels needs; the epsilon absorbs float noise."""
    return max(0, math.ceil(context * px - 1e-9))


def _cost(plan: list[Window]) -> tuple[int, int, int, int]:
    """What a plan costs, to compare plans: fewer flagged windows first, then pixels."""
    flagged = sum(not w.context_ok for w in plan)
    return flagged, sum(w.rect.area for w in plan), len(plan), critical_path(plan)


def _plan(
    cells: Cells, sizes: list[tuple[int, int]], context: float, strategy: _Strategy
) -> list[Window]:
    paint = Paint(cells, edges="ragged" in strategy.order)
    band = _band(cells, strategy.band, sizes[0][0])
    plan: list[Window] = []
    while paint.remaining > 0:
        pick = _pick(cells, paint, sizes, context, strategy.order, band)
        if pick is None:  # the band is done: grow anywhere
            band = None
            continue
        i, j, h, w, ctx_px = pick
        rect = cells.window_rect(i, j, h, w)
        reads = rect.grow(1)  # the window and the ring whose known-ness its masks see
        after = tuple(k for k, prev in enumerate(plan) if prev.rect.intersects(reads))
        new = paint.paint(i, j, h, w)
        assert new > 0, "the tables were out of step: the plan would never end"
        ok = ctx_px >= _need(context, rect.area)
        plan.append(Window(rect, after, new, ctx_px / rect.area, ok))
    return plan


def _band(cells: Cells, axis: int | None, min_cells: int) -> tuple[int, int, int] | None:
    """(axis, lo, hi): the cell rows (axis 0) or columns (1) the known image spans, widened
    to one window if it is narrower."""
    if axis is None:
        return None
    spans = np.flatnonzero(cells.known.any(axis=1 - axis))
    if spans.size == 0:
        return None
    lo, hi = int(spans[0]), int(spans[-1]) + 1
    size = cells.known.shape[axis]
    if hi - lo < min_cells:
        lo = min(max(0, lo - (min_cells - (hi - lo)) // 2), size - min_cells)
        hi = lo + min_cells
    return axis, lo, hi


def _pick(
    cells: Cells,
    paint: Paint,
    sizes: list[tuple[int, int]],
    context: float,
    order: tuple[str, ...],
    band: tuple[int, int, int] | None,
) -> tuple[int, int, int, int, int] | None:
    """The next window as cells (i, j, h, w) and its context pixels; None when a band
    is given and no window inside it keeps the context rule."""
    fitting = [(h, w) for h, w in sizes if h <= cells.h and w <= cells.w]

    def bound(hw: tuple[int, int]) -> tuple:  # the best key start a size could reach
        px = hw[0] * hw[1] * CELL * CELL
        return _lead(order, min(paint.remaining, px - _need(context, px)), px)

    best: tuple | None = None
    # Sizes that could do best first, so that most of the others are skipped.
    for hw in sorted(fitting, key=lambda hw: (bound(hw), hw)):
        lead = bound(hw)
        if best is not None and lead > best[: len(lead)]:
            continue  # every window of this size ranks below the best one
        need = _need(context, hw[0] * hw[1] * CELL * CELL)
        best = _better(best, _rank(cells, paint, *hw, need, order, band, best))
    if best is None and band is not None:
        return None
    if best is None:  # nothing keeps the context rule: best effort, flagged by the caller
        for hw in sorted(fitting, key=lambda hw: (-hw[0] * hw[1], hw)):
            best = _better(best, _rank(cells, paint, *hw, None, order, None, best))
    assert best is not None, "some window paints something while target remains"
    return best[-5:]


def _better(best: tuple | None, key: tuple | None) -> tuple | None:
    return key if best is None or (key is not None and key < best) else best


def _lead(order: tuple[str, ...], new: int, px: int, context_px: int | None = None) -> tuple:
    """The start of the sort key of a window of ``px`` pixels that paints ``new`` (and,
    ranked for best effort, has ``context_px``), up to its area."""
    lead: list[float] = [] if context_px is None else [-context_px / px]
    for name in order:
        if name == "yield":
            lead.append(-new / px)
        elif name == "new":
            return (*lead, -new, px)
    raise ValueError(f"strategy order {order} lacks 'new'")


def _rank(
    cells: Cells,
    paint: Paint,
    h: int,
    w: int,
    need: int | None,
    order: tuple[str, ...],
    band: tuple[int, int, int] | None,
    beat: tuple | None,
) -> tuple | None:
    """Sort key (smaller is better) of the best h x w window, or None if no window
    qualifies or none can rank above ``beat``.

    ``need`` is the context the window must have; None ranks for best effort, by the
    context fraction first. The key ends with (i, j, h, w, context px) of the window.
    """
    px = h * w * CELL * CELL
    new = box(paint.todo.sat, h, w)
    if beat is not None and need is not None and _lead(order, int(new.max()), px) > beat:
        return None  # even the most this size paints anywhere ranks below the best
    ctx = box(cells.full_context_sat, h, w) - new
    ok = new > 0
    if need is not None:
        ok &= ctx >= need
    if band is not None:  # keep the window's rows (or columns) inside the band
        axis, lo, hi = band
        corner = np.arange(ok.shape[axis])
        inside = (corner >= lo) & (corner + (h, w)[axis] <= hi)
        ok &= inside[:, None] if axis == 0 else inside[None, :]
    # Keep the windows that paint the most (best effort: have the most context, then
    # paint the most), on the whole arrays; the tie-breaks look at these only.
    for m in ([ctx] if need is None else []) + [new]:
        top = np.where(ok, m, -1).max()
        if top < 0:
            return None
        ok &= m == top
    i, j = np.nonzero(ok)  # row-major: the last ties resolve to the top-most, left-most
    n, c = new[i, j], ctx[i, j]
    lead = _lead(order, int(n[0]), px, None if need is not None else int(c[0]))
    if beat is not None and lead > beat[: len(lead)]:
        return None
    key: list[float] = []
    for name in order[order.index("new") + 1 :]:
        if name == "waste":
            m = box_at(cells.waste_sat, i, j, h, w)
        elif name == "ragged":
            m = paint.ragged(i, j, h, w)
        else:
            dy, dx = paint.offsets(i, j, h, w, n)
            m = {"centred": dy**2 + dx**2, "dx": np.abs(dx), "dy": np.abs(dy)}[name]
        keep = m == m.min()
        i, j, n, c = i[keep], j[keep], n[keep], c[keep]
        key.append(m[keep][0].item())
    return (*lead, *key, int(i[0]), int(j[0]), h, w, int(c[0]))
