"""What a job asks for: where to paint (the target), at which level, and how.

Outpainting a frame, expanding by directions and inpainting a mask differ only in their
target; everything after that runs through one path (`canvas.jobs.runner`).

    spec = JobSpec(Expand(down=1024), request=PaintRequest(seed=7))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Collection, Mapping, Union

import numpy as np

from canvas.painters.base import PaintRequest
from tiler.prefill import PREFILL_MODES
from tiler.rect import Rect

# Stated limits, so that a typo (an extra zero) is an error instead of an hour of work.
MAX_GROW = 8192  # px added on one side by one expand job
MAX_TARGET_PX = 64 * 1024 * 1024  # px in the bounding box of one job's target
MAX_LEVEL = 16
# The tiler's prefills, and "original": keep what the canvas holds under the target (an
# inpainted picture, for a painter to start from at a strength below 1; empty pixels get
# the edge fill). Automatic1111 calls these choices "masked content".
PREFILLS = (*PREFILL_MODES, "original")


def prefill_for(options: Mapping[str, Any], prefill: str) -> str:
    """The prefill of a job whose painter options are `options`: masked content
    "original" (a diffusion painter's choice) starts from the canvas's own pixels, which
    is the job's prefill "original"; any other keeps `prefill`."""
    return "original" if options.get("masked_content") == "original" else prefill


class JobError(ValueError):
    """A job that cannot run as asked; the message is meant for the user."""


@dataclass(frozen=True)
class Expand:
    """Grow the known content's bounding box by these many pixels on each side."""

    left: int = 0
    right: int = 0
    up: int = 0
    down: int = 0

    def __post_init__(self) -> None:
        for side in ("left", "right", "up", "down"):
            amount = getattr(self, side)
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise JobError(f"{side} must be a whole number of pixels, got {amount!r}")
            if not 0 <= amount <= MAX_GROW:
                raise JobError(f"{side} must be between 0 and {MAX_GROW} px, got {amount}")
        if self.left == self.right == self.up == self.down == 0:
            raise JobError("nothing to expand: give at least one side a positive amount")


@dataclass(frozen=True)
class Frame:
    """Paint the unknown pixels inside this rectangle (the client's generation frame)."""

    rect: Rect


@dataclass(frozen=True, eq=False)
class Inpaint:
    """Repaint the pixels set in `mask` (bool, h x w), whose corner sits at (x, y)."""

    mask: np.ndarray
    x: int = 0
    y: int = 0

    def __post_init__(self) -> None:
        if self.mask.ndim != 2 or self.mask.dtype != bool:
            raise JobError("an inpaint mask must be a 2-D boolean array")
        if not self.mask.any():
            raise JobError("the inpaint mask is empty: paint the pixels to repaint")

    @property
    def rect(self) -> Rect:
        return Rect(self.x, self.y, self.mask.shape[1], self.mask.shape[0])


@dataclass(frozen=True, eq=False)
class Stage:
    """One stage of a coarse-to-fine job (canvas/jobs/coarse.py): paint `mask` (bool h x w,
    corner at x, y, at the spec's level), the job's target as it falls on this level.

    `scale`: how many levels above the job's own this one lies. Above it, context is only
    what is known all through (alpha 255): a pixel that also covers an empty one of the
    job's level is neither context nor painted, so nothing the job paints shows where the
    job leaves the canvas empty. `start`: the coarser level whose picture, upsampled, the
    windows start from (a refine stage); None for the coarse stage, which starts from the
    prefill as every job does.
    """

    mask: np.ndarray
    x: int
    y: int
    scale: int = 0
    start: int | None = None

    @property
    def rect(self) -> Rect:
        return Rect(self.x, self.y, self.mask.shape[1], self.mask.shape[0])


Target = Union[Expand, Frame, Inpaint, Stage]
# How a job paints a big target (canvas/jobs/coarse.py): window by window at its level
# (tiles), the whole target at a coarse level first and then refined level by level
# (coarse), or coarse when the target needs more than a few windows (auto).
STRATEGIES = ("tiles", "coarse", "auto")
DEFAULT_STRATEGY = "tiles"  # what the CLI and the server use when a job names none (README, "Big regions")
REFINE_STRENGTH = 0.7  # coarse: how far each refine stage may depart from the upsampled picture


@dataclass(frozen=True)
class TilerSettings:
    """How windows are planned, masked and blended (docs/how-it-works.md, Seams)."""

    window: int = 512  # largest window side; windows are 512..window, multiples of 64
    context: float = 0.25  # share of each window that must be known before it is painted
    pad: int = 64  # px of known content the painter repaints along the seam
    feather: int = 48  # px over which that band blends from the original to new content
    prefill: str = "edge"  # start image of the unknown part
    colour_match: bool = True

    def __post_init__(self) -> None:
        if self.window % 64 or not 512 <= self.window <= 1024:
            raise JobError(f"window must be 512 to 1024 px in steps of 64, got {self.window}")
        if not 0.0 <= self.context <= 0.75:
            raise JobError(f"context must be between 0 and 0.75, got {self.context}")
        if not 0 <= self.pad <= 128:
            raise JobError(f"pad must be between 0 and 128 px, got {self.pad}")
        if not 0 <= self.feather <= self.pad:
            raise JobError(f"feather must be between 0 and pad ({self.pad}) px, got {self.feather}")
        if self.prefill not in PREFILLS:
            raise JobError(f"prefill must be one of {', '.join(PREFILLS)}, got {self.prefill!r}")


@dataclass(frozen=True)
class JobSpec:
    target: Target
    request: PaintRequest = field(default_factory=PaintRequest)
    tiler: TilerSettings = field(default_factory=TilerSettings)
    level: int = 0
    strategy: str = "tiles"  # one of STRATEGIES
    refine_strength: float = REFINE_STRENGTH

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL:
            raise JobError(f"level must be between 0 and {MAX_LEVEL}, got {self.level}")
        if self.strategy not in STRATEGIES:
            raise JobError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        strength = self.refine_strength
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 1.0:
            raise JobError(f"refine strength must be between 0 and 1, got {strength!r}")

    def describe(self, uses: Collection[str] = ()) -> dict[str, Any]:
        """The settings recorded with the job's revision and in exported PNGs, A1111 style:
        what a person would need to make the same picture again, and nothing else.
        `uses`: which of steps, guidance and strength the painter reads (its `uses`): only
        those shape the picture and are recorded; a painter that reads none (PatchMatch)
        ignores them, and a record (or an exported PNG) that named them would say what did
        not happen."""
        params: dict[str, Any] = {}
        request = self.request
        if request.prompt:
            params["prompt"] = request.prompt
        if request.negative_prompt:
            params["negative_prompt"] = request.negative_prompt
        params["target"] = _describe_target(self.target)
        if self.level:
            params["level"] = self.level
        params["seed"] = request.seed
        params.update({key: getattr(request, key) for key in ("steps", "guidance", "strength") if key in uses})
        if request.candidates > 1:
            params["candidates"] = request.candidates
        params.update(request.options)
        params.update(asdict(self.tiler))
        if self.strategy != "tiles":
            params.update(strategy=self.strategy, refine_strength=self.refine_strength)
        return params


def _describe_target(target: Target) -> str:
    if isinstance(target, Expand):
        sides = [f"{side} {getattr(target, side)}" for side in ("left", "right", "up", "down") if getattr(target, side)]
        return "expand " + ", ".join(sides)
    if isinstance(target, Frame):
        r = target.rect
        return f"frame {r.w}x{r.h} at {r.x},{r.y}"
    r = target.rect
    kind = "inpaint" if isinstance(target, Inpaint) else "stage"
    return f"{kind} {int(target.mask.sum())} px in {r.w}x{r.h} at {r.x},{r.y}"
