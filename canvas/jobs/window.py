"""Paint one planned window: the middle of the job path in docs/architecture.md.

    read -> masks -> prefill -> painter -> colour match -> composite  (-> runner commits)

Known pixels outside the seam band come out bit for bit as they went in; the band blends
from the original to the new content over `feather` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from canvas.jobs.spec import TilerSettings
from canvas.jobs.target import KNOWN_ALPHA
from canvas.painters.base import CancelToken, PaintRequest, Painter, ProgressCallback
from tiler.colour import match_colour
from tiler.composite import composite
from tiler.masks import window_masks
from tiler.prefill import prefill


@dataclass
class WindowPixels:
    """Everything known about one window before it is painted (window coordinates)."""

    rgba: np.ndarray  # uint8 h x w x 4, the canvas as it is now
    known: np.ndarray  # bool: context pixels
    fill: np.ndarray  # bool: pixels this window paints and commits
    outside_known: np.ndarray  # bool (h+2) x (w+2): which pixels around the window are known
    # RGBA: where the unknown pixels start, where its alpha says known (a coarse-to-fine
    # job's refine stage: the coarser level upsampled); None: the prefill everywhere.
    start: np.ndarray | None = None


@dataclass
class PaintedWindow:
    candidates: list[np.ndarray]  # uint8 h x w x 4 each, ready to commit
    changed: np.ndarray  # bool: pixels a commit writes (fill and band)


def paint_window(
    pixels: WindowPixels,
    painter: Painter,
    request: PaintRequest,
    settings: TilerSettings,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> PaintedWindow:
    rgb = _rgb(pixels.rgba)
    masks = window_masks(
        pixels.known,
        pixels.fill,
        pad=settings.pad,
        feather=settings.feather,
        outside_known=pixels.outside_known,
    )
    start = _start(rgb, pixels, settings.prefill, request.seed)
    changed = masks.alpha > 0
    if pixels.start is not None and request.strength <= 0:
        painted = [start] * max(1, request.candidates)  # refined not at all: the upsampled picture
    else:
        painted = _ask(painter, start, masks.generate, pixels, request, progress, cancel)
    cancel.raise_if_cancelled()
    candidates = []
    for candidate in painted:
        if candidate.shape != rgb.shape or candidate.dtype != np.uint8:
            raise RuntimeError(
                f"painter {painter.name!r} returned {candidate.dtype} {candidate.shape}, expected uint8 {rgb.shape}"
            )
        if settings.colour_match:
            # Mapping every pixel (apply_to=None) commits the same pixels as mapping only
            # `changed`: composite takes nothing from the candidate where alpha is 0.
            candidate = match_colour(candidate, rgb, masks.band, None)
        candidates.append(composite(pixels.rgba, candidate, masks.alpha))
    return PaintedWindow(candidates=candidates, changed=changed)


def _start(rgb: np.ndarray, pixels: WindowPixels, mode: str, seed: int) -> np.ndarray:
    """The image the painter starts from: the unknown pixels prefilled. "original" keeps
    the canvas's own pixels under the target (inpainting a picture) and edge-fills only
    the empty ones. A start picture (a refine stage's) replaces the fill where it has one."""
    unknown = ~pixels.known
    given = None if pixels.start is None else unknown & (pixels.start[..., 3] >= KNOWN_ALPHA)
    if mode == "original":
        unknown &= pixels.rgba[..., 3] < KNOWN_ALPHA
        mode = "edge"
    out = prefill(rgb, unknown, mode, seed=seed)
    if given is not None and given.any():
        out[given] = pixels.start[..., :3][given]
    return out


def _ask(
    painter: Painter,
    start: np.ndarray,
    generate: np.ndarray,
    pixels: WindowPixels,
    request: PaintRequest,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> list[np.ndarray]:
    """Run the painter with the mask its kind expects (see `Painter` in painters/base.py).

    A painter that keeps known pixels as hard constraints (PatchMatch) blends its fill
    into them by itself; repainting the band would only add a seam inside its output.
    One that skips the void is told which unknown pixels nothing of it will commit.
    """
    if getattr(painter, "repaints_band", True):
        return painter.paint(start, generate, request, progress, cancel)
    unknown = ~pixels.known
    if getattr(painter, "skips_void", False):
        fill = pixels.fill & unknown
        return painter.paint(start, fill, request, progress, cancel, void=unknown & ~fill)
    return painter.paint(start, unknown, request, progress, cancel)


def _rgb(rgba: np.ndarray) -> np.ndarray:
    """A contiguous copy of the colour channels, a channel at a time.

    numpy's copy of ``rgba[..., :3]`` runs a three-byte inner loop per pixel; three
    strided single-byte copies are several times faster.
    """
    rgb = np.empty(rgba.shape[:2] + (3,), np.uint8)
    for c in range(3):
        rgb[..., c] = rgba[..., c]
    return rgb
