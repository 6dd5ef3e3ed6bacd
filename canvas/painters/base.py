"""The painter protocol: what every painter (PatchMatch, Stable Diffusion, ...) provides.

A painter turns one window into candidates. It sees pixels and a mask, never the store,
the server or the canvas coordinates, so a painter can run anywhere (a thread now,
another process or machine later).

    painter = create_painter("patchmatch")
    [rgb] = painter.paint(image, mask, PaintRequest(seed=7), progress=print, cancel=CancelToken())
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import numpy as np


class Cancelled(Exception):
    """Raised inside a painter (or the job runner) when its cancel token is set."""


class CancelToken:
    """A flag shared between whoever may cancel (a user, a shutdown) and the painter."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class PaintRequest:
    """What the user asked for; painters ignore what they do not understand."""

    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 25
    guidance: float = 7.0
    strength: float = 1.0
    candidates: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    # The model by its library name (canvas/library; a client never sends a path); None:
    # the painter's own (`--model`). Painters without models ignore it.
    model: str | None = None


@dataclass(frozen=True)
class PaintProgress:
    """One progress report from inside a painter: step `step` of `steps` of this window."""

    step: int
    steps: int
    preview: np.ndarray | None = None  # a small RGB approximation of the window, if cheap
    # Not a step but a model loading for this window: its name; step 0 of 1 when the
    # load starts (or the window starts waiting for it), 1 of 1 when it is there.
    loading: str | None = None


ProgressCallback = Callable[[PaintProgress], None]


@dataclass(frozen=True)
class Option:
    """A painter's own setting that a job may give (`PaintRequest.options`, the server's
    `params`): a number from `low` to `high`; whole numbers when all three are ints.

        OPTIONS = {"patch_size": Option("Patch size", 1, 32, 3)}
    """

    label: str
    low: int | float
    high: int | float
    default: int | float

    def __post_init__(self) -> None:
        if not self.low <= self.default <= self.high:
            raise ValueError(f"option {self.label!r}: default {self.default} is not in {self.low}..{self.high}")

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.default))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "number", "label": self.label, "min": self.low, "max": self.high, "default": self.default,
                "integer": self.integer}


@dataclass(frozen=True)
class Choice:
    """A painter's own setting that is one name of a fixed list (a sampler, a mode):
    given exactly as spelled in `choices`.

        OPTIONS = {"scheduler": Choice("Scheduler", ("Euler", "DDIM"), "Euler")}
    """

    label: str
    choices: tuple[str, ...]
    default: str

    def __post_init__(self) -> None:
        if self.default not in self.choices:
            raise ValueError(f"option {self.label!r}: default {self.default!r} is not one of {', '.join(self.choices)}")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "choice", "label": self.label, "choices": list(self.choices), "default": self.default}


def options_of(painter: Any) -> Mapping[str, Option | Choice]:
    """The options a painter understands (its class's `OPTIONS`; none if it has none)."""
    return getattr(painter, "OPTIONS", {})


# The request's settings a painter may use (`Painter.uses`), and what steps, guidance and
# strength are for a painter that gives no `defaults` of its own (Stable Diffusion's).
SETTINGS = ("prompt", "negative_prompt", "steps", "guidance", "strength")
SAMPLING_DEFAULTS: Mapping[str, int | float] = {"steps": 25, "guidance": 7.0, "strength": 1.0}


def uses_of(painter: Any) -> tuple[str, ...]:
    """Which of `SETTINGS` a painter uses, in that order: its `uses`, or all of them for a
    painter that does not say (nothing is hidden from a painter that might use it)."""
    uses = getattr(painter, "uses", None)
    if uses is None:
        return SETTINGS
    unknown = set(uses) - set(SETTINGS)
    if unknown:
        raise ValueError(f"painter {painter.name!r} uses unknown settings {sorted(unknown)}; known: {', '.join(SETTINGS)}")
    return tuple(key for key in SETTINGS if key in uses)


def defaults_of(painter: Any) -> dict[str, int | float]:
    """Steps, guidance and strength of a job that gives none, for this painter: its
    `defaults` over `SAMPLING_DEFAULTS`."""
    return {**SAMPLING_DEFAULTS, **{k: v for k, v in dict(getattr(painter, "defaults", None) or {}).items() if k in SAMPLING_DEFAULTS}}


def label_of(painter: Any) -> str:
    """A painter's human name: its `label`, else its `name`."""
    return str(getattr(painter, "label", None) or painter.name)


def paints_from_nothing(painter: Any) -> bool:
    """Whether a painter can paint a window with no known pixel in it. One that takes a
    prompt paints from it (txt2img); one that takes none (PatchMatch) copies from the
    known pixels, and with none there is nothing to copy."""
    return "prompt" in uses_of(painter)


class Painter(Protocol):
    name: str
    # True: the painter repaints the seam band too (diffusion: it cannot keep pixels
    # exactly, so its band is blended in by the tiler's feathered alpha). False: it keeps
    # every known pixel as a hard constraint and is given only the unknown part as mask.
    repaints_band: bool
    # Optional, with repaints_band False: True means `paint` takes a keyword `void` (bool,
    # disjoint from `mask`): unknown pixels of which nothing is committed, which the
    # painter may leave alone (PatchMatch neither paints nor copies from them).
    skips_void: bool
    # Optional: `OPTIONS`, a mapping of option name -> `Option` or `Choice`, the settings
    # of `request.options` it understands (read it with `options_of`).
    # Optional: `native_window`, the window size (px) it paints best at (a model's
    # training size); jobs that give no window use it.
    # Optional: `uses`, the tuple of which of `SETTINGS` ("prompt", "negative_prompt",
    # "steps", "guidance", "strength") it reads from the request (PatchMatch: none); the
    # client shows only those, and a job's record (and an exported PNG) keeps only those of
    # steps, guidance and strength. Without it, all of them (read it with `uses_of`). A painter
    # that does not use "prompt" paints only from known pixels: a window with none fails
    # its job (see `paints_from_nothing`).
    # Optional: `defaults`, {"steps": 25, "guidance": 7.0, "strength": 1.0} or part of it:
    # what a job that gives none of these gets (`defaults_of`; SAMPLING_DEFAULTS for the rest).
    # Optional: `label`, a human name ("FLUX.1 Fill · flux1-fill-dev"); else its `name`.

    def paint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        request: PaintRequest,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> list[np.ndarray]:
        """Repaint the pixels where `mask` (bool, H x W) is set in `image` (uint8 H x W x 3).

        Returns `request.candidates` uint8 RGB arrays of the same shape. Pixels outside the
        mask may come back changed; the caller composites, so only masked ones are used.
        Raises `Cancelled` when `cancel` is set mid-way, committing to nothing.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """Settings worth recording with a revision (name, patch size, model, ...)."""
        ...
