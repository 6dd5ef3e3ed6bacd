"""Tiles as image files for HTTP: encoded once per revision, kept in a bounded cache.

A tile's bytes depend only on (canvas file, level, tx, ty, revision), so an encode is
never repeated while it stays cached: every other viewer of a canvas, a reload and a
pan back over known ground cost a dictionary lookup instead of an encode.

Three formats, all lossless with alpha. WebP is what a browser on another machine asks
for: on photos it is smaller than PNG and, at the fastest settings, about three times
cheaper to encode (the encode is most of a cold tile's cost). A browser on this machine
asks for raw RGBA: over the loopback 256 KB cost less than any encode and decode
(bench/viewport.py). PNG stays for everything else that reads tiles (scripts, tools).

    images = TileImages()
    rev, data = images.get(store, level, tx, ty, "webp", store.tile_revision(level, tx, ty, fade=FADE))
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import Callable

import numpy as np
from PIL import Image

from canvas.store import Store

FADE = Store.DISPLAY_FADE  # tiles are what people see: finer content fades into coarser
CACHE_BYTES = 96 * 1024 * 1024  # about 600 WebP photo tiles: a few screens of every open canvas


def _png(rgba: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgba).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _webp(rgba: np.ndarray) -> bytes:
    # quality 0 with lossless is the fastest lossless effort (method 0), not a lossy one.
    out = io.BytesIO()
    Image.fromarray(rgba).save(out, format="WEBP", lossless=True, quality=0, method=0, exact=True)
    return out.getvalue()


def _raw(rgba: np.ndarray) -> bytes:
    return np.ascontiguousarray(rgba).tobytes()


FORMATS: dict[str, tuple[str, Callable[[np.ndarray], bytes]]] = {
    "png": ("image/png", _png),
    "webp": ("image/webp", _webp),
    # 256 x 256 x 4 bytes, rows top down: no encode, no decode. What a browser on this
    # machine asks for, where bytes cost nothing and milliseconds of encoding do.
    "rgba": ("application/octet-stream", _raw),
}
UNCACHED = {"rgba"}  # made as fast as they are looked up, and 256 KB each

Key = tuple[str, int, int, int, int, str]


class TileImages:
    """Encoded tiles by (canvas identity, level, tx, ty, revision, format), least recently used out."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._cache: OrderedDict[Key, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # encodes run in worker threads
        self.encoded = 0  # how many encodes ran (tests and benchmarks)

    def get(self, store: Store, level: int, tx: int, ty: int, fmt: str, rev: int) -> tuple[int, bytes | None]:
        """(revision, bytes) of view(level) tile (tx, ty) at revision `rev` (the caller's
        `tile_revision`, read once); bytes None where nothing is painted."""
        if rev == 0:
            return 0, None
        key = (store.identity, level, tx, ty, rev, fmt)
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
                return rev, data
        # Missed: read the revision again together with the pixels, so the bytes are
        # filed under the revision they show (a commit may have landed meanwhile).
        rev, rgba = store.read_tile(level, tx, ty, fade=FADE)
        if rgba is None:
            return 0, None
        data = FORMATS[fmt][1](rgba)
        if fmt in UNCACHED:
            return rev, data
        with self._lock:
            self.encoded += 1
            self._keep((store.identity, level, tx, ty, rev, fmt), data)
        return rev, data

    def _keep(self, key: Key, data: bytes) -> None:
        if key in self._cache or len(data) > self.max_bytes:
            return
        self._cache[key] = data
        self._bytes += len(data)
        while self._bytes > self.max_bytes:
            _, old = self._cache.popitem(last=False)
            self._bytes -= len(old)

    def forget(self, identity: str) -> None:
        """Drop every tile of one canvas file (deleted): its memory comes back at once."""
        with self._lock:
            for key in [key for key in self._cache if key[0] == identity]:
                self._bytes -= len(self._cache.pop(key))
