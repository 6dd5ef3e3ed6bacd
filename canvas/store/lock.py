"""Who has the canvas open: a shared flock on ``<canvas>-lock`` while a Store lives.

On open, revisions left "running" are marked "interrupted": their process was killed.
That is only true when no other live process has the canvas open (a CLI export must not
interrupt the server's running job), so the opener first tries an exclusive lock: if it
gets it, nobody else is in, and it recovers; then it holds a shared lock until close.
The kernel drops the lock of a killed process. A separate file, because SQLite's own
POSIX locks on the database would be released by any other descriptor being closed.
Where flock does not exist (Windows) every opener recovers.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class OwnerLock:
    """Hold with ``acquire()`` (True when this process is the only opener), free with ``release()``."""

    def __init__(self, canvas: Path) -> None:
        self.path = canvas.with_name(canvas.name + "-lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        if fcntl is None:
            return True
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return True  # a read-only directory: nobody can be writing there through us
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            sole = True
        except OSError:
            sole = False
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        return sole

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
