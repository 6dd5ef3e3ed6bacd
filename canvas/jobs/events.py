"""What a running job tells the outside world (a progress bar, the websocket relay)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

from tiler.rect import Rect


@dataclass(frozen=True)
class JobPlanned:
    """A step's windows are planned (a job of several steps plans each when it starts)."""

    rev: int
    windows: list[Rect]
    level: int
    step: int = 0
    steps: int = 1


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


JobEvent = Union[JobPlanned, WindowProgress, WindowCommitted]
EventCallback = Callable[[JobEvent], None]
