"""The one exception the store raises for problems with the canvas itself, and what a
failed write says about the disk under it.

Bad arguments (a wrong array shape, an unknown status) raise ``ValueError`` as usual;
``StoreError`` means the canvas cannot do what was asked: the file is missing or is not
a canvas, its schema is newer than this code, the store is closed, or the revision being
written is no longer the running head.

The disk itself fails through SQLite (``sqlite3.Error``) or the OS (``OSError``);
``storage_problem`` names what that means for a user: the disk is full, the folder is
read-only, or the device failed. A failed write is rolled back whole; nothing is
half-written, and the same write works again once the cause is gone.
"""

from __future__ import annotations

import errno
import sqlite3

DISK_FULL = "disk_full"
READ_ONLY = "read_only"
IO_ERROR = "io_error"

_SQLITE = {
    "SQLITE_FULL": DISK_FULL,
    "SQLITE_READONLY": READ_ONLY,
    "SQLITE_CANTOPEN": READ_ONLY,  # a file or its -wal/-shm that cannot be made: a folder we may not write
    "SQLITE_AUTH": READ_ONLY,
    "SQLITE_PERM": READ_ONLY,
    "SQLITE_IOERR": IO_ERROR,
    "SQLITE_CORRUPT": IO_ERROR,
    "SQLITE_NOTADB": IO_ERROR,
}
_ERRNO = {
    errno.ENOSPC: DISK_FULL,
    errno.EDQUOT: DISK_FULL,
    errno.EFBIG: DISK_FULL,
    errno.EROFS: READ_ONLY,
    errno.EACCES: READ_ONLY,
    errno.EPERM: READ_ONLY,
    errno.EIO: IO_ERROR,
}


class StoreError(Exception):
    """The canvas file or its state does not allow the operation; ``problem`` says when
    that is the disk (``disk_full``, ``read_only``, ``io_error``)."""

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem


def storage_problem(exc: BaseException) -> str | None:
    """``disk_full``, ``read_only`` or ``io_error`` when ``exc`` is the disk failing a
    read or write; None for anything else (a bug, a busy lock, a bad argument)."""
    if isinstance(exc, StoreError):
        return exc.problem
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        for prefix, problem in _SQLITE.items():
            if name == prefix or name.startswith(prefix + "_"):
                return problem
        text = str(exc).lower()  # older Pythons give no error name
        if "disk is full" in text:
            return DISK_FULL
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return READ_ONLY
        if "disk i/o error" in text:
            return IO_ERROR
        return None
    if isinstance(exc, OSError):
        return _ERRNO.get(exc.errno or 0)
    return None
