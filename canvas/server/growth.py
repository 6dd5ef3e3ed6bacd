"""The commands that make jobs of several stages: `zoomout` and `grow`.

Each parses its message into a `Stages` (checked now, so a bad request is an error before
anything is queued) whose `build(store)` makes the job's specs when the worker runs it:
a grow starts from the bounds the canvas has then, not when it was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from canvas.jobs import JobError, JobSpec, TilerSettings, recorded_params
from canvas.jobs.guided import ANCHORS, GrowTo, full_body, guided_steps
from canvas.jobs.schedule import MAX_ENTRIES, PromptSchedule
from canvas.jobs.zoom import DEFAULT_FACTOR, MAX_FACTOR, MIN_FACTOR, zoom_out_steps
from canvas.painters import PaintRequest, Painter
from canvas.server import limits
from canvas.server.errors import ApiError, bad
from canvas.server.protocol import integer, number, rect, strategy, text
from canvas.store import Store

MAX_ZOOM_STEPS = 16
MAX_STAGE_PROMPTS = 16
PRESETS = ("full-body",)


@dataclass(frozen=True)
class Stages:
    kind: str  # zoomout | grow
    params: dict[str, Any]  # what the history records, besides the painting settings
    build: Callable[[Store], list[JobSpec]]
    # The prompts its stages paint with besides the job's own (a zoom-out's schedule, a
    # grow's stage prompts): their LoRA tags are checked before the job is queued.
    prompts: tuple[str, ...] = ()

    def record(self, first: JobSpec, painter: Painter) -> dict[str, Any]:
        """The job's parameters in the history (and exported PNGs): the painting settings
        of its first stage, and what makes it a zoom-out or a grow instead of its target."""
        params = {**recorded_params(first, painter), **self.params}
        params["target"] = self.kind
        return params


def zoomout(message: dict[str, Any], request: PaintRequest, tiler: TilerSettings) -> Stages:
    frame = rect(message, limits.MAX_FRAME_SIDE, limits.MAX_FRAME_PIXELS)
    steps = integer(message, "steps", 1, MAX_ZOOM_STEPS, 4)
    factor = number(message, "factor", MIN_FACTOR, MAX_FACTOR, DEFAULT_FACTOR)
    schedule = _schedule(message.get("schedule", {}))
    specs = _checked(lambda: zoom_out_steps(frame, steps, factor, request, tiler, schedule))
    params = {"frame": [frame.x, frame.y, frame.w, frame.h], "zoom_steps": steps, "factor": factor}
    if schedule.entries:
        params["schedule"] = schedule.as_dict()
    return Stages("zoomout", params, lambda store: specs, tuple(prompt for _, prompt in schedule.entries))


def grow(message: dict[str, Any], request: PaintRequest, tiler: TilerSettings) -> Stages:
    prompts = _prompts(message.get("prompts", []))
    preset = text(message, "preset", 32, "")
    if preset and preset not in PRESETS:
        raise bad(f"preset must be one of {', '.join(PRESETS)}, got {preset[:40]!r}", "bad_field")
    anchor = text(message, "anchor", 16, "top" if preset else "center")
    if anchor not in ANCHORS:
        raise bad(f"anchor must be one of {', '.join(ANCHORS)}, got {anchor[:40]!r}", "bad_field")
    goal = None
    if not preset:
        goal = _checked(lambda: GrowTo(width=integer(message, "width", 0, 16384, 0), height=integer(message, "height", 0, 16384, 0),
                                       aspect=number(message, "aspect", 0.0, 10.0, 0.0), anchor=anchor))
    params: dict[str, Any] = {"preset": preset} if preset else {"to": _describe(goal)}
    if prompts:
        params["stage_prompts"] = prompts
    painting = strategy(message)

    def build(store: Store) -> list[JobSpec]:
        bounds = store.bounds(0)
        if bounds.empty:
            raise JobError("the canvas is empty: import an image before growing it")
        return [replace(spec, **painting) for spec in guided_steps(bounds, goal or full_body(bounds), prompts, request, tiler)]

    return Stages("grow", params, build, tuple(prompts))


def _schedule(value: Any) -> PromptSchedule:
    if not isinstance(value, dict):
        raise bad("schedule must be an object of step -> prompt, like {\"3\": \"a village\"}", "bad_field")
    if len(value) > MAX_ENTRIES:
        raise bad(f"a schedule holds at most {MAX_ENTRIES} prompts, got {len(value)}", "out_of_range")
    entries = {}
    for step, prompt in value.items():
        if not (isinstance(step, str) and step.isdigit() and 1 <= int(step) <= MAX_ZOOM_STEPS):
            raise bad(f"a schedule's keys are steps from 1 to {MAX_ZOOM_STEPS}, got {step[:20]!r}", "bad_field")
        entries[int(step)] = text({"prompt": prompt}, "prompt", limits.MAX_PROMPT)
    return PromptSchedule.of(entries)


def _prompts(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_STAGE_PROMPTS:
        raise bad(f"prompts must be a list of at most {MAX_STAGE_PROMPTS} strings", "bad_field")
    return [text({"prompt": prompt}, "prompt", limits.MAX_PROMPT) for prompt in value]


def _checked(make: Callable[[], Any]) -> Any:
    try:
        return make()
    except JobError as exc:
        raise ApiError("bad_params", str(exc)) from None


def _describe(goal: GrowTo | None) -> str:
    if goal is None:
        return ""
    if goal.width and goal.height:
        return f"{goal.width}x{goal.height} ({goal.anchor})"
    return f"aspect {goal.aspect:.3g} ({goal.anchor})"


