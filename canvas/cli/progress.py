"""A progress bar on stderr for multi-window jobs, fed by the job's events."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from canvas.jobs import JobEvent, JobPlanned, WindowCommitted, WindowProgress

BAR = 24


class ProgressBar:
    """Redraws one line on a terminal; prints one line per window anywhere else (logs, CI)."""

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.windows = 0
        self.done = 0.0

    def __call__(self, event: JobEvent) -> None:
        if not self.enabled:
            return
        if isinstance(event, JobPlanned):
            self.windows = len(event.windows)
            self._write(f"painting {self.windows} window{'s' if self.windows != 1 else ''}", final=not self.tty)
        elif isinstance(event, WindowProgress) and self.tty:
            self.done = event.window + event.step / max(1, event.steps)
            self._draw()
        elif isinstance(event, WindowCommitted):
            self.done = event.window + 1
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
