"""What a running job tells the outside world (a progress bar, the websocket relay)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

from tiler.rect import Rect


@dataclass(frozen=True)
class JobPlanned:
    """A stage's windows are planned (a job of several stages, such as a zoom-out's steps,
    plans each when it starts)."""

    rev: int
    windows: list[Rect]
    level: int
    stage: int = 0
    stages: int = 1


@dataclass(frozen=True)
class WindowProgress:
    window: int  # 0-based index in paint order
    windows: int
    rect: Rect
    step: int
    steps: int
    preview: np.ndarray | None = None


@dataclass(frozen=True)
class WindowCommitted:
    window: int
    windows: int
    rect: Rect
    level: int
    rev: int


@dataclass(frozen=True)
class ModelLoading:
    """A model the job paints with is loading (`loaded` False), or is there now (True):
    loading one takes seconds to minutes, and the job shows it."""

    model: str  # its library name (or the path given as --model)
    loaded: bool


JobEvent = Union[JobPlanned, WindowProgress, WindowCommitted, ModelLoading]
EventCallback = Callable[[JobEvent], None]
