"""The scan cache: what each file held, and its hashes, by path, size and mtime.

One small JSON file for every models folder, kept in the user's cache folder
(`$BOUNDLESS_CACHE_DIR`, else `$XDG_CACHE_HOME/boundless`, else `~/.cache/boundless`), not
in the models folders themselves: those are often read-only, on a shared disk, or
listed by other tools (a stray file in `models/checkpoints` shows up in ComfyUI), and one
cache keyed by absolute path serves any number of them. A record holds while the file's
size and mtime (ns) are unchanged; what was read from it also carries the recogniser's
version, so a new family in the painter's table re-reads the headers but never re-hashes
a file. Several processes may share the file: saving merges with what is on disk, so at
worst a record another process wrote at the same instant is computed again.

    cache = ScanCache(default_cache_path())
    record = cache.lookup(path, size, mtime_ns)
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

from canvas.library.content import Content
from canvas.painters.diffusion.families import FAMILIES

FORMAT = 1
# Bump when the library reads files differently; the families are part of it because a
# family added to the painter's table may recognise a file that was unknown before.
RECOGNISER = "2026-12-07:" + ",".join(FAMILIES)
log = logging.getLogger("boundless.library")


def default_cache_path() -> Path:
    base = os.environ.get("BOUNDLESS_CACHE_DIR")
    if base:
        return Path(base) / "library.json"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "boundless" / "library.json"


class ScanCache:
    def __init__(self, path: Path | None) -> None:
        """`path`: the JSON file (created on first save); None keeps the cache in memory only."""
        self.path = path
        self._lock = threading.Lock()
        self._files: dict[str, dict[str, Any]] = self._read()
        self._dirty: set[str] = set()
        self._removed: set[str] = set()
        self._warned = False

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # none yet, or damaged: it is only a cache
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
            return {}
        return {key: value for key, value in data["files"].items() if isinstance(value, dict)}

    def _record(self, path: Path, size: int, mtime_ns: int) -> dict[str, Any] | None:
        record = self._files.get(str(path))
        if record is None or record.get("size") != size or record.get("mtime_ns") != mtime_ns:
            return None
        return record

    def content(self, path: Path, size: int, mtime_ns: int) -> Content | None:
        """What the file held when it had this size and mtime, or None (never read, or changed)."""
        with self._lock:
            record = self._record(path, size, mtime_ns)
            if record is None or record.get("recogniser") != RECOGNISER or not isinstance(record.get("content"), dict):
                return None
            return Content.from_dict(record["content"])

    def hash(self, path: Path, size: int, mtime_ns: int, method: str) -> str | None:
        with self._lock:
            record = self._record(path, size, mtime_ns)
            value = (record or {}).get("hashes", {}).get(method)
            return value if isinstance(value, str) else None

    def put_content(self, path: Path, size: int, mtime_ns: int, content: Content) -> None:
        with self._lock:
            record = self._fresh(path, size, mtime_ns)
            record["content"] = content.as_dict()
            record["recogniser"] = RECOGNISER

    def put_hash(self, path: Path, size: int, mtime_ns: int, method: str, digest: str) -> None:
        with self._lock:
            self._fresh(path, size, mtime_ns).setdefault("hashes", {})[method] = digest

    def _fresh(self, path: Path, size: int, mtime_ns: int) -> dict[str, Any]:
        """The record to write into: the file's, or a new one if it changed (the lock is held)."""
        key = str(path)
        record = self._record(path, size, mtime_ns)
        if record is None:
            record = self._files[key] = {"size": size, "mtime_ns": mtime_ns, "hashes": {}}
        self._dirty.add(key)
        self._removed.discard(key)
        return record

    def forget_missing(self, roots: Iterable[Path], seen: set[str]) -> None:
        """Drop the records of files under `roots` that a scan no longer found (deleted, moved)."""
        prefixes = tuple(str(root).rstrip(os.sep) + os.sep for root in roots)
        with self._lock:
            for key in [key for key in self._files if key.startswith(prefixes) and key not in seen]:
                del self._files[key]
                self._removed.add(key)
                self._dirty.discard(key)

    def save(self) -> None:
        """Write the changes, merged with what other processes saved meanwhile."""
        with self._lock:
            if self.path is None or not (self._dirty or self._removed):
                return
            merged = self._read()
            for key in self._removed:
                merged.pop(key, None)
            for key in self._dirty:
                merged[key] = self._files[key]
            try:
                self._write(merged)
            except OSError as exc:
                if not self._warned:
                    log.warning("the models library cannot keep its scan cache in %s: %s", self.path, exc)
                    self._warned = True
                return
            self._files = merged
            self._dirty.clear()
            self._removed.clear()

    def _write(self, files: dict[str, dict[str, Any]]) -> None:
        """Atomically: readers see the old file or the new one, never half of it."""
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".library-", suffix=".json")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump({"format": FORMAT, "files": files}, file, separators=(",", ":"))
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
