"""The data folder: several canvases, each one SQLite file `<name>.canvas`, by name.

A client names canvases, never files: a name is 1 to 64 letters, digits, `_` or `-`
starting with a letter or digit, so it cannot hold a path separator, `..` or a suffix.
Each canvas has one writing Store, opened on first use and kept open while the server
runs (the store is thread-safe; the painter worker and the event loop share it).

    canvases = Canvases(Path("data"))
    store = canvases.store("default")
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from canvas.server import limits
from canvas.server.errors import ApiError, bad, conflict, not_found
from canvas.store import Store

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SUFFIX = ".canvas"
# Files SQLite and the store keep beside a canvas; they move and go with it.
SIDE_FILES = ("-wal", "-shm", "-journal", "-lock")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise bad("a canvas name is 1 to 64 letters, digits, '_' or '-', starting with a letter or digit", "bad_name")
    return name


class Canvases:
    def __init__(self, data: Path, default: Path | None = None) -> None:
        """`default`: a canvas file served as the default canvas, named after its stem."""
        self.data = data
        data.mkdir(parents=True, exist_ok=True)
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()
        self._external: dict[str, Path] = {}
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
        """The canvas's open Store; 404 unless it exists (or `create`)."""
        path = self.path(name)
        with self._lock:
            if name in self._stores:
                return self._stores[name]
            if not create and not path.is_file():
                raise not_found(f"no canvas named {name!r}")
            store = self._stores[name] = Store.open(path)
            return store

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
        if store is None:
            return None
        store.close()
        return store.identity

