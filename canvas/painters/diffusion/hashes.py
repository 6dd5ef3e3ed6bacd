"""A checkpoint file's short hash as Automatic1111 prints it (`Model hash: 6ce0161689`):
the first 10 hex digits of the SHA-256 of the whole file. A1111's PNG Info and civitai find
a model by it; a diffusers folder has no such hash.

    short_hash(Path("v1-5-pruned-emaonly.safetensors"))  # "6ce0161689"
    later = FileHash(path)     # starts hashing in a thread, beside the model's loading
    later.value()              # "6ce0161689" once known (waits for it), None if unreadable

Hashing reads every byte (about 1.4 GB/s on this CPU: 16 s for FLUX.1's 22 GB), so it never
stands in the way of a start-up: it runs beside the load (which reads the same bytes, so
one of the two reads is from the page cache), the first job that records the model waits
for it only if it is not done by then, and the digest is kept in the models library's
scan cache (by path, size and mtime, canvas/library/cache.py), so a model is hashed once per
machine, not once per start, and one the library already hashed is never read again.
"""

from __future__ import annotations

import functools
import logging
import threading
from concurrent.futures import Future
from pathlib import Path

from canvas.library.cache import ScanCache, default_cache_path
from canvas.library.hashes import file_sha256  # A1111's hashes live with the library: one reader of files

log = logging.getLogger("boundless.diffusion")
METHOD = "sha256"  # the library's name for a whole-file hash (hashes.hash_method)


def short_hash(path: Path) -> str:
    """A1111's model hash of the file at `path` (read once while it is unchanged)."""
    stat = path.stat()
    return _hash(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _hash(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is hashed again
    cache = _cache(default_cache_path())
    digest = cache.hash(Path(path), size, mtime_ns, METHOD)
    if digest is None:
        digest = file_sha256(Path(path))
        cache.put_hash(Path(path), size, mtime_ns, METHOD, digest)
        cache.save()  # best effort: a cache that cannot be written only warns
    return digest[:10]


@functools.lru_cache(maxsize=4)
def _cache(path: Path) -> ScanCache:
    return ScanCache(path)


class FileHash:
    """A model file's short hash, computed in a daemon thread from construction on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._future: Future[str] = Future()
        threading.Thread(target=self._run, name=f"hash {path.name}", daemon=True).start()

    def _run(self) -> None:
        try:
            self._future.set_result(short_hash(self.path))
        except BaseException as exc:  # noqa: BLE001 - kept for value(), which says it
            self._future.set_exception(exc)

    def value(self) -> str | None:
        """The short hash (waiting for it if need be); None, with a warning, if the file
        could not be read: a job is not failed for want of its model's hash."""
        try:
            return self._future.result()
        except OSError as exc:
            log.warning("cannot hash %s for the PNG's Model hash: %s", self.path, exc)
            return None
