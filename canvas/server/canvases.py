"""The data folder: several canvases, each one SQLite file `<name>.canvas`, by name.

A client names canvases, never files: a name is 1 to 64 letters, digits, `_` or `-`
starting with a letter or digit, so it cannot hold a path separator, `..` or a suffix.
Each canvas has one writing Store, opened on first use and kept open while the server
runs (the store is thread-safe; the painter worker and the event loop share it). Their
decoded-tile caches share one budget, `cache_mb` in all, however many canvases are open.

    canvases = Canvases(Path("data"))
    store = canvases.store("default")
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from canvas.server import limits
from canvas.server.errors import ApiError, bad, conflict, not_found
from canvas.store import Store

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SUFFIX = ".canvas"
READ_ONLY_RETRY = 2.0  # s between looks at whether a read-only canvas's folder became writable
# Files SQLite and the store keep beside a canvas; they move and go with it.
SIDE_FILES = ("-wal", "-shm", "-journal", "-lock")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise bad("a canvas name is 1 to 64 letters, digits, '_' or '-', starting with a letter or digit", "bad_name")
    return name


class Canvases:
    def __init__(self, data: Path, default: Path | None = None, cache_mb: float = 256) -> None:
        """`default`: a canvas file served as the default canvas, named after its stem."""
        self.data = data
        self.cache_bytes = int(cache_mb * 2**20)
        data.mkdir(parents=True, exist_ok=True)
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()
        self._external: dict[str, Path] = {}
        self._retry_at: dict[str, float] = {}  # read-only canvases: when to look at the folder again
        if default is None:
            self.default = "default"
        else:
            if not NAME.fullmatch(default.stem):
                raise ApiError("bad_name", f"{default}: the file's stem must be a valid canvas name (letters, digits, '_', '-')")
            self.default = default.stem
            if default.resolve() != (data / f"{self.default}{SUFFIX}").resolve():
                self._external[self.default] = default
        self.store(self.default, create=True)

    def path(self, name: str) -> Path:
        return self._external.get(name) or self.data / f"{check_name(name)}{SUFFIX}"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def names(self) -> list[str]:
        found = {p.name[: -len(SUFFIX)] for p in self.data.glob(f"*{SUFFIX}") if NAME.fullmatch(p.name[: -len(SUFFIX)])}
        return sorted(found | set(self._external))

    def describe(self, name: str) -> dict[str, Any]:
        path = self.path(name)
        stat = path.stat()
        # Fresh pixels sit in the write-ahead log until a checkpoint: count them too.
        wal = path.with_name(path.name + "-wal")
        size = stat.st_size + (wal.stat().st_size if wal.exists() else 0)
        return {"name": name, "default": name == self.default, "bytes": size, "modified": stat.st_mtime}

    def store(self, name: str, create: bool = False) -> Store:
        """The canvas's open Store; 404 unless it exists (or `create`).

        A canvas opened read-only (its folder could not be written) is opened again once
        the folder can be: checked at most every READ_ONLY_RETRY s, so work resumes
        without a restart."""
        path = self.path(name)
        with self._lock:
            store = self._stores.get(name)
            if store is not None:
                if not (store.read_only and self._writable_again(name, path)):
                    return store
                del self._stores[name]
                store.close()
            if not create and not path.is_file():
                raise not_found(f"no canvas named {name!r}")
            store = self._stores[name] = Store.open(path, cache_mb=0)
            self._share_cache()
            return store

    def _share_cache(self) -> None:
        """Split the cache budget evenly among the open canvases (the lock is held)."""
        share = self.cache_bytes // max(1, len(self._stores))
        for store in self._stores.values():
            store.limit_cache(share)

    def _writable_again(self, name: str, path: Path) -> bool:
        now = time.monotonic()
        if now < self._retry_at.get(name, 0.0):
            return False
        self._retry_at[name] = now + READ_ONLY_RETRY
        try:
            handle, probe = tempfile.mkstemp(dir=path.parent, prefix=".boundless-probe-")
        except OSError:
            return False
        os.close(handle)
        os.unlink(probe)
        return True

    def create(self, name: str) -> None:
        check_name(name)
        if self.exists(name):
            raise conflict("exists", f"a canvas named {name!r} exists already")
        if len(self.names()) >= limits.MAX_CANVASES:
            raise conflict("too_many", f"at most {limits.MAX_CANVASES} canvases")
        self.store(name, create=True)

    def rename(self, old: str, new: str) -> None:
        """Rename a canvas in the data folder; the caller makes sure nothing paints on it."""
        source, target = self._movable(old), self.path(check_name(new))
        if target.exists() or new in self._external:
            raise conflict("exists", f"a canvas named {new!r} exists already")
        self._close(old)
        for suffix in ("", *SIDE_FILES):
            file = source.with_name(source.name + suffix)
            if file.exists():
                file.rename(target.with_name(target.name + suffix))

    def delete(self, name: str) -> str | None:
        """Delete the canvas's files; returns its identity if it was open (caches may hold it)."""
        path = self._movable(name)
        identity = self._close(name)
        for suffix in ("", *SIDE_FILES):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return identity

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()

    def _movable(self, name: str) -> Path:
        if not self.exists(name):
            raise not_found(f"no canvas named {name!r}")
        if name == self.default:
            raise conflict("default_canvas", "the default canvas cannot be renamed or deleted")
        return self.path(name)

    def _close(self, name: str) -> str | None:
        with self._lock:
            store = self._stores.pop(name, None)
            self._share_cache()
        if store is None:
            return None
        store.close()
        return store.identity

