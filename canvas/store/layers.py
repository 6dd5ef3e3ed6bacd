"""Versioned tile layers: which version of each tile is visible at the head, and its pixels.

Two layers per level: OWN, the pixels authored at that level, and FINE, the derived
pyramid (level >= 1; fine(0) is own(0)). Every tile row is keyed
(layer, level, tx, ty, rev) and the visible version is the latest with rev <= head.

An in-memory index maps every tile visible at the head, per (layer, level), to its rev,
the bbox of its known pixels and its blob. Absent tiles are answered without a query (a
negative lookup costs a dict miss), bounds come from it without touching pixels (kept per
level, recomputed only for a level where content shrank), and moving the head updates
only the tiles written by the revisions in between. Its memory grows with the number of
painted tiles (a few hundred bytes per 256 KB tile), never with the extent.

Writes run inside the caller's SQLite transaction and are staged in memory until the
caller says ``apply`` (after COMMIT) or ``discard`` (after ROLLBACK), so a failed commit
changes neither the file nor what this process sees.
"""

from __future__ import annotations

import sqlite3
from typing import Iterator

import numpy as np

from canvas.store.cache import TileCache
from canvas.store.tiles import TILE, Bbox, alpha_bbox, decode, empty_tile, encode
from tiler.rect import Rect

OWN, FINE = 0, 1
Key = tuple[int, int, int, int]  # layer, level, tx, ty
Entry = tuple[int, Bbox, int]  # rev, bbox of known pixels, blobs.id
Index = dict[tuple[int, int], dict[tuple[int, int], Entry]]  # (layer, level) -> (tx, ty) -> entry


def fine_layer(level: int) -> int:
    """The layer that holds fine(level): own pixels at level 0, the derived layer above."""
    return OWN if level == 0 else FINE


class Layers:
    """Tile versions on one connection; the caller holds the store lock and sets ``head``."""

    def __init__(self, db: sqlite3.Connection, cache: TileCache, head: int) -> None:
        self.db = db
        self.cache = cache
        self.head = head
        self._index: Index = self._load_index()
        self._pending: dict[Key, tuple[int, Bbox, int, np.ndarray] | None] = {}
        self._own_bounds: dict[int, Rect] = {}
        self._stale: set[int] = {level for layer, level in self._index if layer == OWN}

    # -- reading -------------------------------------------------------------------------

    def entry(self, key: Key) -> Entry | None:
        """(rev, bbox, blob) of the visible version, staged writes first; None when absent."""
        if key in self._pending:
            staged = self._pending[key]
            return None if staged is None else staged[:3]
        return self._lookup(key)

    def get(self, layer: int, level: int, tx: int, ty: int) -> np.ndarray | None:
        """The visible tile, read-only, or None when absent."""
        key = (layer, level, tx, ty)
        if key in self._pending:
            staged = self._pending[key]
            return None if staged is None else staged[3]
        entry = self._lookup(key)
        if entry is None:
            return None
        version = (*key, entry[0])
        tile = self.cache.get(version)
        if tile is None:
            tile = self._fetch(version)
            self.cache.put(version, tile)
        return tile

    def rev(self, layer: int, level: int, tx: int, ty: int) -> int:
        entry = self.entry((layer, level, tx, ty))
        return 0 if entry is None else entry[0]

    def read_region(self, layer: int, level: int, rect: Rect) -> np.ndarray:
        """A fresh (h, w, 4) array of one layer over ``rect``; absent tiles are transparent."""
        out = np.empty((rect.h, rect.w, 4), np.uint8)  # the tiles cover it: no zeroing twice
        for tx, ty in rect.tiles(TILE):
            tile = self.get(layer, level, tx, ty)
            part = rect.intersect(Rect(tx * TILE, ty * TILE, TILE, TILE))
            target = out[part.relative_to(rect).slices]
            if tile is None:
                target[...] = 0
            else:
                target[...] = tile[part.translate(-tx * TILE, -ty * TILE).slices]
        return out

    def keys(self, layer: int, level: int) -> Iterator[tuple[int, int]]:
        """(tx, ty) of the visible non-empty tiles of one layer and level, staged included."""
        staged = {(k[2], k[3]) for k in self._pending if k[0] == layer and k[1] == level}
        for tx, ty in staged | set(self._index.get((layer, level), {})):
            if self.entry((layer, level, tx, ty)) is not None:
                yield tx, ty

    def own_bounds(self) -> dict[int, Rect]:
        """Per level, the bbox (at that level) of the own pixels visible at the head."""
        for level in self._stale:
            tiles = self._index.get((OWN, level), {})
            box = Rect(0, 0, 0, 0)
            for (tx, ty), (_, bbox, _) in tiles.items():
                box = box.union(_bbox_rect(tx, ty, bbox))
            if box.empty:
                self._own_bounds.pop(level, None)
            else:
                self._own_bounds[level] = box
        self._stale.clear()
        return self._own_bounds

    # -- writing (inside the caller's transaction) ---------------------------------------

    def put(self, layer: int, level: int, tx: int, ty: int, rev: int, tile: np.ndarray) -> None:
        """Make ``tile`` version ``rev`` of a tile (taking ownership of the array).

        An empty tile deletes version ``rev``, or makes it a tombstone when an older
        version still shows pixels. Callers skip tiles whose pixels did not change.
        """
        key = (layer, level, tx, ty)
        entry = self.entry(key)
        bbox = alpha_bbox(tile)
        if entry is None and bbox is None:
            return
        if bbox is None:
            self._remove(key, rev, entry)
            self._pending[key] = None
            return
        codec, data = encode(tile, bbox)
        if entry is not None and entry[0] == rev:  # the running revision rewrites its version
            blob = entry[2]
            self.db.execute("UPDATE blobs SET data = ? WHERE id = ?", (data, blob))
        else:
            blob = self.db.execute("INSERT INTO blobs (data) VALUES (?)", (data,)).lastrowid
        self.db.execute(
            "INSERT OR REPLACE INTO tiles (layer, level, tx, ty, rev, codec, x0, y0, x1, y1, blob)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, rev, codec, *bbox, blob),
        )
        tile.flags.writeable = False
        self._pending[key] = (rev, bbox, blob, tile)

    def _remove(self, key: Key, rev: int, entry: Entry) -> None:
        """Version ``rev`` becomes empty: a tombstone if an older version shows pixels."""
        where = "layer = ? AND level = ? AND tx = ? AND ty = ?"
        if entry[0] == rev:
            self.db.execute("DELETE FROM blobs WHERE id = ?", (entry[2],))
            older = self.db.execute(
                f"SELECT blob FROM tiles WHERE {where} AND rev < ? ORDER BY rev DESC LIMIT 1", (*key, rev)
            ).fetchone()
            if older is None or older[0] is None:
                self.db.execute(f"DELETE FROM tiles WHERE {where} AND rev = ?", (*key, rev))
                return
        self.db.execute(
            "INSERT OR REPLACE INTO tiles (layer, level, tx, ty, rev, codec, x0, y0, x1, y1, blob)"
            " VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0, 0, NULL)",
            (*key, rev),
        )

    def apply(self) -> None:
        """The transaction committed: staged versions become visible and cached."""
        for key, staged in self._pending.items():
            layer, level, tx, ty = key
            old = self._set(key, None if staged is None else staged[:3])
            if staged is not None:
                self.cache.put((*key, staged[0]), staged[3])
            if layer != OWN or level in self._stale:
                continue
            if staged is None or (old is not None and not _contains(staged[1], old[1])):
                self._stale.add(level)  # content shrank: recompute this level on demand
            else:
                grown = _bbox_rect(tx, ty, staged[1])
                self._own_bounds[level] = grown.union(self._own_bounds.get(level, Rect(0, 0, 0, 0)))
        self._pending.clear()

    def discard(self) -> None:
        """The transaction rolled back: forget what was staged."""
        self._pending.clear()

    # -- history -------------------------------------------------------------------------

    def move_head(self, head: int) -> None:
        """Make ``head`` current: re-resolve only the tiles written between old and new head."""
        low, high = sorted((self.head, head))
        self.head = head
        keys = self.db.execute(
            "SELECT DISTINCT layer, level, tx, ty FROM tiles WHERE rev > ? AND rev <= ?", (low, high)
        ).fetchall()
        for key in keys:
            row = self.db.execute(
                "SELECT rev, x0, y0, x1, y1, blob FROM tiles WHERE layer = ? AND level = ? AND tx = ?"
                " AND ty = ? AND rev <= ? ORDER BY rev DESC LIMIT 1",
                (*key, head),
            ).fetchone()
            visible = row is not None and row[5] is not None
            self._set(tuple(key), (row[0], tuple(row[1:5]), row[5]) if visible else None)
            if key[0] == OWN:
                self._stale.add(key[1])

    def drop_after(self, head: int) -> None:
        """Delete every version newer than ``head`` (the redo branch); call in a transaction."""
        self.db.execute(
            "DELETE FROM blobs WHERE id IN (SELECT blob FROM tiles WHERE rev > ? AND blob IS NOT NULL)",
            (head,),
        )
        self.db.execute("DELETE FROM tiles WHERE rev > ?", (head,))

    def forget_after(self, head: int) -> None:
        """Drop cached versions newer than ``head`` once they are deleted."""
        self.cache.discard_where(lambda version: version[4] > head)

    # -- internals -----------------------------------------------------------------------

    def _lookup(self, key: Key) -> Entry | None:
        tiles = self._index.get((key[0], key[1]))
        return None if tiles is None else tiles.get((key[2], key[3]))

    def _set(self, key: Key, entry: Entry | None) -> Entry | None:
        """Put or drop one index entry; returns the previous one."""
        tiles = self._index.setdefault((key[0], key[1]), {})
        old = tiles.pop((key[2], key[3]), None)
        if entry is not None:
            tiles[key[2], key[3]] = entry
        return old

    def _load_index(self) -> Index:
        index: Index = {}
        rows = self.db.execute(
            "SELECT layer, level, tx, ty, rev, x0, y0, x1, y1, blob FROM tiles WHERE rev <= ?"
            " ORDER BY layer, level, tx, ty, rev",
            (self.head,),
        )
        for layer, level, tx, ty, rev, x0, y0, x1, y1, blob in rows:
            tiles = index.setdefault((layer, level), {})
            if blob is None:
                tiles.pop((tx, ty), None)
            else:
                tiles[tx, ty] = (rev, (x0, y0, x1, y1), blob)
        return index

    def _fetch(self, version: tuple[int, int, int, int, int]) -> np.ndarray:
        row = self.db.execute(
            "SELECT t.codec, t.x0, t.y0, t.x1, t.y1, b.data FROM tiles t JOIN blobs b ON b.id = t.blob"
            " WHERE t.layer = ? AND t.level = ? AND t.tx = ? AND t.ty = ? AND t.rev = ?",
            version,
        ).fetchone()
        if row is None:
            return empty_tile()  # unreachable unless another process rewrote history under us
        return decode(row[0], tuple(row[1:5]), row[5])



def _bbox_rect(tx: int, ty: int, bbox: Bbox) -> Rect:
    """A tile-local bbox in the coordinates of the tile's level."""
    x0, y0, x1, y1 = bbox
    return Rect(tx * TILE + x0, ty * TILE + y0, x1 - x0, y1 - y0)


def _contains(outer: Bbox, inner: Bbox) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]
