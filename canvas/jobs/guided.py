"""Guided expansion: grow a picture to a size or an aspect ratio as one job, with the
prompt changing along the way (a headshot: "upper body", then "legs", then "shoes on a
path").

The growth is split into stages, each an ordinary `Expand` step planned when it starts:
first the vertical growth, one stage per scheduled prompt (the body is grown before the
scene is widened around it), then the horizontal growth in one stage. All stages are one
job and one undo step (`run_steps`); the planner's context and window rules hold in each.

    steps = guided_steps(Rect(0, 0, 512, 512), GrowTo(width=1344, height=2048, anchor="top"),
                         prompts=["upper body", "legs", "shoes on a path"])
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from canvas.jobs.spec import MAX_GROW, Expand, JobError, JobSpec, TilerSettings
from canvas.painters.base import PaintRequest
from tiler.rect import Rect

# Where the original stays inside the grown picture: which sides do not grow.
ANCHORS = {
    "center": (0.5, 0.5), "top": (0.5, 0.0), "bottom": (0.5, 1.0), "left": (0.0, 0.5), "right": (1.0, 0.5),
    "top-left": (0.0, 0.0), "top-right": (1.0, 0.0), "bottom-left": (0.0, 1.0), "bottom-right": (1.0, 1.0),
}
MAX_SIDE = 16384


@dataclass(frozen=True)
class GrowTo:
    """The size to reach: `width` x `height` px, or (with 0 for one of them) the `aspect`
    ratio (width / height) reached by growing only the other side."""

    width: int = 0
    height: int = 0
    aspect: float = 0.0
    anchor: str = "center"

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise JobError(f"anchor must be one of {', '.join(ANCHORS)}, got {self.anchor!r}")
        for side in (self.width, self.height):
            if not isinstance(side, int) or isinstance(side, bool) or not 0 <= side <= MAX_SIDE:
                raise JobError(f"a target side is 0 to {MAX_SIDE} px, got {side!r}")
        if not (self.width and self.height) and not 0.1 <= self.aspect <= 10:
            raise JobError("give a target width and height, or an aspect ratio between 0.1 and 10")

    def size(self, w: int, h: int) -> tuple[int, int]:
        """The target size for a picture of w x h; refused unless it grows (never shrinks)."""
        if self.width and self.height:
            width, height = self.width, self.height
        elif self.width:
            width, height = self.width, round(self.width / self.aspect)
        elif self.height:
            width, height = round(self.height * self.aspect), self.height
        elif w / h < self.aspect:  # too narrow for the ratio: widen it
            width, height = round(h * self.aspect), h
        else:
            width, height = w, round(w / self.aspect)
        if width < w or height < h:
            raise JobError(f"the picture is {w}x{h} px: it can only grow, not become {width}x{height}")
        if (width, height) == (w, h):
            raise JobError(f"the picture is {w}x{h} px already: nothing to grow")
        return width, height


# Headshot to full body: a head-and-shoulders crop is about the top quarter of a standing
# figure, so grow down to four times its height, then out to a 2:3 portrait.
FULL_BODY_HEIGHT = 4
FULL_BODY_ASPECT = 2 / 3
FULL_BODY_PROMPTS = ("upper body", "legs", "shoes on a path")


def full_body(bounds: Rect, aspect: float = FULL_BODY_ASPECT) -> GrowTo:
    """The headshot-to-full-body preset: down to four heads' height, then out to `aspect`."""
    height = bounds.h * FULL_BODY_HEIGHT
    return GrowTo(width=max(bounds.w, round(height * aspect)), height=height, anchor="top")


def guided_steps(
    bounds: Rect,
    goal: GrowTo,
    prompts: list[str] | tuple[str, ...] = (),
    request: PaintRequest | None = None,
    tiler: TilerSettings | None = None,
) -> list[JobSpec]:
    """The Expand steps from `bounds` (the known content, level 0) to `goal`."""
    if bounds.empty:
        raise JobError("the canvas is empty: import an image before growing it")
    request = request or PaintRequest()
    tiler = tiler or TilerSettings()
    width, height = goal.size(bounds.w, bounds.h)
    ax, ay = ANCHORS[goal.anchor]
    left, up = round((width - bounds.w) * ax), round((height - bounds.h) * ay)
    right, down = width - bounds.w - left, height - bounds.h - up
    prompts = list(prompts) or [request.prompt]
    steps: list[JobSpec] = []
    if up or down:
        stages = _stages(up, down, len(prompts))
        for i, (top, bottom) in enumerate(stages):
            prompt = prompts[i * len(prompts) // len(stages)]  # more stages than prompts: each holds longer
            steps.append(JobSpec(Expand(up=top, down=bottom), request=replace(request, prompt=prompt), tiler=tiler))
    if left or right:
        for first, second in _stages(left, right, 1 + max(left, right) // (MAX_GROW + 1)):
            steps.append(JobSpec(Expand(left=first, right=second), request=replace(request, prompt=prompts[-1]), tiler=tiler))
    return steps


def _stages(a: int, b: int, count: int) -> list[tuple[int, int]]:
    """Split growths `a` and `b` into `count` (at most) nearly equal stages, none empty,
    none over MAX_GROW on a side."""
    count = max(count, 1 + max(a, b) // (MAX_GROW + 1))
    count = min(count, max(a, b))  # at least one pixel a stage
    out = []
    for i in range(count):
        stage = (a * (i + 1) // count - a * i // count, b * (i + 1) // count - b * i // count)
        if any(stage):
            out.append(stage)
    return out
