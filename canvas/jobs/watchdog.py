"""A time limit on each painter call: a window that hangs fails its job, and the worker
moves on.

Python cannot kill a thread, so the limit is honest about what it can do. Each `paint`
runs in a thread of its own while the worker waits at most `seconds`. On time-out the
job's cancel token is set (a painter that checks it stops soon), the job fails with
`timeout`, its canvas keeps what it had, and the worker takes the next job. The stuck
call runs on until it returns by itself; whatever it returns then is dropped, and its
progress reports are no longer relayed. Until it returns, that painter counts as busy: a
later window for it waits up to `seconds` for the call to end, then fails with `timeout`
too (two calls at once could corrupt a painter's state, a diffusion scheduler's for
one), while jobs for the other painters run as usual. A call that never returns keeps
its thread, and the memory and CPU it holds, until the server restarts.

    painter = TimedPainter(create_painter("patchmatch"), seconds=600)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from canvas.painters import PaintProgress

log = logging.getLogger(__name__)


class PainterTimeout(Exception):
    """A window took longer than the server allows."""


class TimedPainter:
    """`painter` with each `paint` call limited to `seconds` (None: no limit, same thread)."""

    def __init__(self, painter: Any, seconds: float | None) -> None:
        self.painter = painter
        self.seconds = seconds
        self._free = threading.Lock()  # held by the call in flight, stuck ones included

    def __getattr__(self, name: str) -> Any:  # name, repaints_band, skips_void, OPTIONS, describe
        return getattr(self.painter, name)

    def paint(self, image: Any, mask: Any, request: Any, progress: Any, cancel: Any, **kwargs: Any) -> list[Any]:
        if self.seconds is None:
            return self.painter.paint(image, mask, request, progress, cancel, **kwargs)
        name = getattr(self.painter, "name", "painter")
        if not self._free.acquire(timeout=self.seconds):
            raise PainterTimeout(f"painter {name!r} is still busy with a window that timed out; "
                                 f"it has not returned after another {self.seconds:g} s")
        outcome: dict[str, Any] = {}
        finished, expired = threading.Event(), threading.Event()
        started = time.monotonic()

        def relay(report: PaintProgress) -> None:
            if not expired.is_set():
                progress(report)

        def run() -> None:
            try:
                outcome["result"] = self.painter.paint(image, mask, request, relay, cancel, **kwargs)
            except BaseException as exc:  # handed to the worker, which reports it
                outcome["error"] = exc
            finally:
                self._free.release()
                finished.set()
                if expired.is_set():
                    log.warning("painter %r returned %.1f s after its window timed out; its result is dropped",
                                name, time.monotonic() - started)

        threading.Thread(target=run, name=f"boundless-paint-{name}", daemon=True).start()
        if not finished.wait(self.seconds):
            expired.set()
            if not finished.is_set():
                cancel.cancel()  # a painter that checks it stops and frees itself soon
                raise PainterTimeout(f"painter {name!r} took more than {self.seconds:g} s for one window")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]
