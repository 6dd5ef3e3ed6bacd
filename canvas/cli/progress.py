"""Progress bars on stderr: for jobs (fed by their events) and for zoom videos."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from canvas.jobs import JobEvent, JobPlanned, WindowCommitted, WindowProgress

BAR = 24


class ProgressBar:
    """Redraws one line on a terminal; prints one line per window anywhere else (logs, CI)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        # sys.stderr as it is now, not as it was at import (a test's capture, closed since)
        self.stream = stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.windows = 0
        self.done = 0.0
        self.committed = 0  # windows of this stage committed (in any order: painters work in parallel)

    def __call__(self, event: JobEvent) -> None:
        if not self.enabled:
            return
        if isinstance(event, JobPlanned):
            self.windows = len(event.windows)
            self.committed, self.done = 0, 0.0
            stage = f"stage {event.stage + 1} of {event.stages} (level {event.level}): " if event.stages > 1 else ""
            self._write(f"{stage}painting {self.windows} window{'s' if self.windows != 1 else ''}", final=True)
        elif isinstance(event, WindowProgress) and self.tty:
            self.done = max(self.done, self.committed + event.step / max(1, event.steps))
            self._draw()
        elif isinstance(event, WindowCommitted):
            self.committed += 1
            self.done = self.committed
            self._draw(final=not self.tty or self.done >= self.windows)

    def _draw(self, final: bool = False) -> None:
        share = self.done / max(1, self.windows)
        filled = int(round(share * BAR))
        elapsed = time.monotonic() - self.started
        self._write(
            f"[{'#' * filled}{'-' * (BAR - filled)}] {int(self.done)}/{self.windows} windows  {elapsed:5.1f}s",
            final=final,
        )

    def _write(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class VideoBar:
    """Frames rendered of a zoom video, on the same line (or every tenth, off a terminal)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        stream = stream or sys.stderr  # as it is now, as ProgressBar takes it
        self.stream, self.enabled, self.tty = stream, enabled, stream.isatty()
        self.started = time.monotonic()

    def __call__(self, frame: int, frames: int) -> None:
        if not self.enabled or (not self.tty and frame % max(1, frames // 10) and frame != frames):
            return
        filled = int(round(frame / frames * BAR))
        text = f"[{'#' * filled}{'-' * (BAR - filled)}] {frame}/{frames} frames  {time.monotonic() - self.started:5.1f}s"
        self.stream.write(("\r\033[K" + text + ("\n" if frame == frames else "")) if self.tty else text + "\n")
        self.stream.flush()
