"""A bounded LRU of decoded tiles, measured in bytes.

Keys name a tile *version* (layer, level, tx, ty, rev), so undo and redo never make an
entry stale: they change which version is visible, not what a version holds. The one
version that changes in place, the running revision's, is replaced here by the commit
that rewrote it, after its transaction succeeded. Which tiles are absent is answered by
the tile index (see ``layers``), so no negative entries are needed here.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Hashable

import numpy as np


class TileCache:
    """LRU by bytes: ``put`` evicts the least recently used tiles beyond ``limit_bytes``."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = max(0, int(limit_bytes))
        self.size_bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> np.ndarray | None:
        tile = self._entries.get(key)
        if tile is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return tile

    def put(self, key: Hashable, tile: np.ndarray) -> None:
        self.discard(key)
        if tile.nbytes > self.limit_bytes:
            return
        self._entries[key] = tile
        self.size_bytes += tile.nbytes
        while self.size_bytes > self.limit_bytes:
            _, old = self._entries.popitem(last=False)
            self.size_bytes -= old.nbytes

    def resize(self, limit_bytes: int) -> None:
        """A new limit; least recently used tiles go at once until the cache fits it."""
        self.limit_bytes = max(0, int(limit_bytes))
        while self.size_bytes > self.limit_bytes:
            _, old = self._entries.popitem(last=False)
            self.size_bytes -= old.nbytes

    def discard(self, key: Hashable) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.size_bytes -= old.nbytes

    def discard_where(self, predicate: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self._entries if predicate(k)]:
            self.discard(key)

    def clear(self) -> None:
        self._entries.clear()
        self.size_bytes = 0
