"""The Store: one canvas file, its pyramid and its history, behind one lock.

    with Store.open("garden.canvas") as store:
        rev = store.begin_revision("outpaint", {"painter": "patchmatch", "seed": 0})
        store.commit(rev, 0, Rect(-256, 0, 512, 512), rgba)     # one atomic write
        store.finish_revision(rev, "done", windows=1)
        pixels = store.read(0, Rect(-300, -20, 1920, 1080))     # (1080, 1920, 4) uint8

One SQLite connection guarded by an RLock: the server calls from a worker thread and
from the event loop. A Store sees what it writes; open one writing Store per canvas.
Commits go to the running head revision only: revisions are a single line, and tile
versions of two interleaved jobs could not both be right.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np

from canvas.store import view
from canvas.store.cache import TileCache
from canvas.store.database import connect, get_meta, is_read_only
from canvas.store.errors import StoreError
from canvas.store.history import FINISHED, History, Revision
from canvas.store.images import parameters_text, to_rgba, write_png
from canvas.store.jobs import INFO_KEY, JobLog, JobRecord
from canvas.store.layers import OWN, Layers
from canvas.store.lock import OwnerLock
from canvas.store.pyramid import Dirty, read_fine, seed_growth, top_level, update
from canvas.store.tiles import ALPHA1, TILE, empty_tile, tile_rect, words
from tiler.rect import Rect, mask_bounds

MAX_LEVEL = 40
MAX_READ_PIXELS = 1 << 28  # 1 GiB of RGBA; a larger read is a bug in the caller
IMPORT_BLOCK = 2048  # imports commit in blocks, so a huge image never sits in one transaction


class Store:
    """A sparse, unbounded, multi-resolution RGBA canvas with undo/redo history."""

    TILE = TILE
    DISPLAY_FADE = view.DISPLAY_FADE

    def __init__(
        self, db: sqlite3.Connection, owner: OwnerLock | None, recover: bool, cache_mb: float
    ) -> None:
        """Use ``Store.open``; ``recover`` marks revisions left running as interrupted."""
        self._db = db
        self._owner = owner
        self._lock = threading.RLock()
        self._closed = False
        self._history = History(db)
        self._jobs = JobLog(db)
        self._deferred: list[Callable[[], None]] = []  # writes a full disk refused, retried first
        self._job_key = threading.local()  # the server's job whose revision this thread begins
        self._identity = get_meta(db, "id") or uuid.uuid4().hex  # none only if read-only and old
        if recover:
            self._recover()
        self._head = self._history.head
        self._top, self._extent = self._history.pyramid_state(self._head)
        self.cache = TileCache(int(cache_mb * 2**20))
        self._layers = Layers(db, self.cache, self._head)

    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = True, cache_mb: int = 256) -> Store:
        """Open a canvas file (made if missing and ``create``); ``":memory:"`` for a scratch one."""
        name = os.fspath(path)
        if name == ":memory:":
            return cls(connect(name, create=True), None, True, cache_mb)
        file = Path(name)
        if file.is_dir():
            raise StoreError(f"{file} is a directory, not a Boundless canvas")
        if not file.exists() and not create:
            raise StoreError(f"no canvas at {file}")
        db = connect(name, create=create)
        owner = OwnerLock(file)
        try:
            return cls(db, owner, owner.acquire(), cache_mb)
        except BaseException:
            owner.release()
            db.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._settle()
            except sqlite3.Error:  # still refused: the next open marks what is left running interrupted
                pass
            self._closed = True
            self._db.close()
            if self._owner is not None:
                self._owner.release()
            self.cache.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def limit_cache(self, limit_bytes: int) -> None:
        """Bound the decoded-tile cache anew (a server shares one budget among its canvases)."""
        with self._lock:
            self.cache.resize(limit_bytes)

    @property
    def read_only(self) -> bool:
        """Opened from a folder this process cannot write: every write fails (SQLITE_READONLY)."""
        return is_read_only(self._db)

    @property
    def identity(self) -> str:
        """A random id made with the file: names this canvas in ETags and caches."""
        return self._identity

    @property
    def head(self) -> int:
        return self._head

    @property
    def top_level(self) -> int:
        """The highest stored pyramid level; reads above it are computed from it."""
        return self._top

    # -- reading -------------------------------------------------------------------------

    def read(self, level: int, rect: Rect, *, fade: int = 0) -> np.ndarray:
        """view(level) over ``rect``: (h, w, 4) uint8, unknown pixels transparent (all 0).

        ``fade`` (px): finer content fades into coarser content under its edges, as it
        is shown (``DISPLAY_FADE``); 0, the default, reads the canvas exactly.
        """
        level, rect = _check_level(level), _plain(rect)
        if rect.area > MAX_READ_PIXELS:
            raise ValueError(f"read of {rect.w}x{rect.h} pixels is too large")
        with self._open():
            return view.read_view(self._layers, level, rect, self._top, self._extent, fade)

    def read_fine(self, level: int, rect: Rect) -> np.ndarray:
        """Only the content at ``level``'s resolution or finer over ``rect`` (authored there
        or downsampled from below), without the coarser content view(level) shows under it:
        a zoom video resamples each level's own detail smoothly instead."""
        level, rect = _check_level(level), _plain(rect)
        if rect.area > MAX_READ_PIXELS:
            raise ValueError(f"read of {rect.w}x{rect.h} pixels is too large")
        with self._open():
            return read_fine(self._layers, level, rect, self._top, self._extent).copy()

    def bounds(self, level: int = 0) -> Rect:
        """Bbox at ``level`` of the known content (alpha > 0) visible there; Rect(0, 0, 0, 0) if none."""
        level = _check_level(level)
        with self._open():
            return view.bounds(self._layers, level)

    def tile_revision(self, level: int, tx: int, ty: int, *, fade: int = 0) -> int:
        """Newest revision among the stored tiles view(level) tile (tx, ty) shows; 0 if none."""
        level, tx, ty = _check_level(level), int(tx), int(ty)
        with self._open():
            return view.view_revision(self._layers, level, tx, ty, self._top, self._extent, fade)

    def authored_bounds(self) -> dict[int, Rect]:
        """Per level with content authored there (level 0: imports and ordinary jobs; a
        zoom-out's rings: coarser levels), that content's bbox at its own level."""
        with self._open():
            return dict(self._layers.own_bounds())

    def painted_tiles(self, level: int, rect: Rect, *, fade: int = 0) -> list[tuple[int, int, int]]:
        """(tx, ty, revision) of every tile of view(level) over ``rect`` (at ``level``) that
        shows something: a client that knows them fetches no empty tile and caches the rest
        by revision."""
        level, rect = _check_level(level), _plain(rect)
        with self._open():
            found = [(tx, ty, view.view_revision(self._layers, level, tx, ty, self._top, self._extent, fade))
                     for tx, ty in rect.tiles(TILE)]
        return [tile for tile in found if tile[2]]

    def read_tile(self, level: int, tx: int, ty: int, *, fade: int = 0) -> tuple[int, np.ndarray | None]:
        """(revision, pixels) of view(level) tile (tx, ty), read together; (0, None) if empty.

        One lock hold: a cache keyed by the revision must never file newer pixels under
        an older revision (an undo brings that older revision back).
        """
        with self._open():
            rev = self.tile_revision(level, tx, ty, fade=fade)
            return rev, (self.read(level, tile_rect(int(tx), int(ty)), fade=fade) if rev else None)

    # -- writing -------------------------------------------------------------------------

    def begin_revision(self, kind: str, params: dict[str, Any], info: dict[str, Any] | None = None) -> int:
        """Start a running revision at the head, dropping the redo branch; returns its id.

        ``params`` are what the user asked for (they go into exported PNGs); ``info`` is
        bookkeeping (the window plan, counts), merged with what ``finish_revision`` adds.

        Refused while the head revision is still running: one job writes at a time.
        Inside ``with store.job(key)``, the info names that job (see ``jobs``).
        """
        with self._open():
            self._settle()
            self._check_not_running()
            info = dict(info or {})
            key = getattr(self._job_key, "value", None)
            if key is not None:
                info[INFO_KEY] = key
            with self._transaction():
                self._layers.drop_after(self._head)
                self._history.drop_after(self._head)
                rev = self._history.create(kind, dict(params or {}), self._top, self._extent, info)
                self._history.set_head(rev)
            self._layers.forget_after(self._head)
            self._head = self._layers.head = rev
            return rev

    def commit(
        self, rev: int, level: int, rect: Rect, rgba: np.ndarray, changed: np.ndarray | None = None
    ) -> None:
        """Write own(level) pixels of ``rect`` where ``changed``, and the pyramid above, atomically."""
        level, rect = _check_level(level), _plain(rect)
        rgba = np.asarray(rgba)
        if rgba.dtype != np.uint8 or rgba.shape != (rect.h, rect.w, 4):
            raise ValueError(f"rgba must be uint8 {(rect.h, rect.w, 4)}, got {rgba.dtype} {rgba.shape}")
        box = rect
        if changed is not None:
            changed = np.asarray(changed, dtype=bool)
            if changed.shape != (rect.h, rect.w):
                raise ValueError(f"changed must have shape {(rect.h, rect.w)}, got {changed.shape}")
            box = mask_bounds(changed).translate(rect.x, rect.y)
            changed = changed[box.relative_to(rect).slices]
        if box.empty:
            return
        if rgba.strides[2] != 1:  # words() needs each pixel's four bytes side by side
            rgba = np.ascontiguousarray(rgba)
        pixels = words(rgba[box.relative_to(rect).slices])  # a view: tiles copy from it
        empty = pixels < ALPHA1
        if empty.any():  # empty pixels hold colour 0, so empty tiles are all zero
            pixels = np.where(empty, np.uint32(0), pixels)
        with self._open():
            self._check_running_head(rev)
            saved = self._top, self._extent
            try:
                with self._transaction():
                    self._write(rev, level, box, pixels, changed)
            except BaseException:
                self._layers.discard()
                self._top, self._extent = saved
                raise
            self._layers.apply()

    def finish_revision(self, rev: int, status: str = "done", **info: Any) -> None:
        """Set the final status; ``info`` is merged into the revision's stored info."""
        if status not in FINISHED:
            raise ValueError(f"status must be one of {', '.join(FINISHED)}, got {status!r}")
        with self._open():
            try:
                self._history.finish(rev, status, info)
            except KeyError:
                raise StoreError(f"no revision {rev}") from None
            except sqlite3.Error:
                # A full disk must not leave the revision running for good: the next write
                # (a new job, an undo) lands this first.
                self._deferred.append(lambda: self._finish_if_there(rev, status, info))
                raise

    def drop_revision(self, rev: int) -> Rect | None:
        """Take back the running head revision ``rev`` as if it had never run: its tiles and
        the revision itself go, and the head moves back to the revision before it. Returns
        the area (level 0) it had written, which viewers must read again (None: nothing)."""
        with self._open():
            self._check_running_head(rev)
            touched = self._history.touched(rev)
            previous = self._history.previous(rev)
            self._move_head(previous)
            with self._transaction():
                self._layers.drop_after(previous)
                self._history.drop_after(previous)
            self._layers.forget_after(previous)
            return touched

    # -- history -------------------------------------------------------------------------

    def undo(self) -> Revision | None:
        """Move the head to the previous revision; returns the one undone, None at the start."""
        with self._open():
            if self._head == 0:
                return None
            self._settle()
            current = self._check_not_running()
            self._move_head(self._history.previous(self._head))
            return None if current is None else replace(current, active=False)

    def redo(self) -> Revision | None:
        """Move the head to the next revision; returns it, None when there is nothing to redo."""
        with self._open():
            following = self._history.following(self._head)
            if following is None:
                return None
            self._settle()
            self._move_head(following)
            return self._history.get(following)

    def history(self) -> list[Revision]:
        with self._open():
            return self._history.all()

    # -- jobs ----------------------------------------------------------------------------

    def record_job(self, job: str, kind: str, client: str, request: dict[str, Any]) -> str:
        """Keep a job the server accepted until ``forget_job``; returns its key (see ``jobs``)."""
        key = uuid.uuid4().hex
        with self._open():
            self._settle()
            with self._transaction():
                self._jobs.add(key, job, kind, client, request)
        return key

    def forget_job(self, key: str) -> None:
        """The job ended (its revision, if any, says how)."""
        with self._open():
            try:
                with self._transaction():
                    self._jobs.remove(key)
            except sqlite3.Error:
                self._deferred.append(lambda: self._jobs.remove(key))
                raise

    @contextmanager
    def job(self, key: str) -> Iterator[None]:
        """Revisions this thread begins inside the block carry ``key`` in their info."""
        self._job_key.value = key
        try:
            yield
        finally:
            self._job_key.value = None

    def interrupted_jobs(self) -> list[JobRecord]:
        """Jobs a killed (or stopped) process had accepted and not finished, oldest first."""
        with self._open():
            return self._jobs.interrupted()

    # -- images --------------------------------------------------------------------------

    def import_image(
        self, image: np.ndarray, x: int, y: int, level: int = 0, params: dict[str, Any] | None = None
    ) -> int:
        """Paste an RGB(A) image at (x, y) as one revision of kind "import"; returns its id.

        Alpha is binarised at 128, and transparent pixels leave the canvas as it was.
        """
        rgba = to_rgba(image)
        h, w = rgba.shape[:2]
        x, y = int(x), int(y)
        rev = self.begin_revision("import", dict(params or {}))
        try:
            for block in _blocks(Rect(x, y, w, h), IMPORT_BLOCK):
                local = block.relative_to(Rect(x, y, w, h)).slices
                self.commit(rev, level, block, rgba[local], changed=rgba[local][..., 3] > 0)
        except BaseException:
            self.finish_revision(rev, "failed")
            raise
        self.finish_revision(rev, "done", x=x, y=y, width=w, height=h, level=level)
        return rev

    def export_png(self, level: int, rect: Rect, out: str | os.PathLike | BinaryIO) -> None:
        """Write view(level) over ``rect`` as RGBA PNG with an A1111-style ``parameters`` chunk."""
        with self._open():
            rgba = self.read(level, rect)
            source = self._history.latest_touching(rect.to_level(level, 0))
        params, rev = (source.params, source.id) if source else ({}, 0)
        write_png(rgba, parameters_text(params, rev, level, (rect.w, rect.h)), out)

    # -- internals -----------------------------------------------------------------------

    def _write(self, rev: int, level: int, box: Rect, pixels: np.ndarray, changed: np.ndarray | None) -> None:
        """Own tiles first, then the fine pyramid up to the (maybe grown) top level."""
        dirty: Dirty = {level: {}}
        for tx, ty in box.tiles(TILE):
            part = box.intersect(tile_rect(tx, ty))
            source = part.relative_to(box).slices
            local = part.translate(-tx * TILE, -ty * TILE).slices
            current = self._layers.get(OWN, level, tx, ty)
            # Only pixels that differ are written, and only their bbox feeds the pyramid:
            # a band repainted identically, or a tile seen before, costs no tile write.
            diff = pixels[source] != (0 if current is None else words(current)[local])
            if changed is not None:
                diff &= changed[source]
            moved = mask_bounds(diff)
            if moved.empty:
                continue
            tile = empty_tile() if current is None else current.copy()
            np.copyto(words(tile)[local], pixels[source], where=diff)
            self._layers.put(OWN, level, tx, ty, rev, tile)
            dirty[level][tx, ty] = moved.translate(part.x, part.y)
        touched = box.to_level(level, 0)
        extent = touched if self._extent is None else self._extent.union(touched)
        top = top_level(extent, max(self._top, level))
        if top > self._top:
            seed_growth(self._layers, self._top, dirty)
        update(self._layers, rev, dirty, top)
        self._history.record_commit(rev, touched, top, extent)
        self._top, self._extent = top, extent

    def _recover(self) -> None:
        """Revisions and jobs a killed process left running become interrupted. On a disk
        that refuses the write (full, read-only) it waits for the next write: the canvas
        still opens, to be read."""
        def interrupt() -> None:
            self._history.interrupt_running()
            self._jobs.interrupt_waiting()

        try:
            with self._transaction():
                interrupt()
        except sqlite3.Error:
            self._deferred.append(interrupt)

    def _settle(self) -> None:
        """Land the writes a failing disk refused before (see ``finish_revision``), in
        order, before any new one; raises the disk's error while it still refuses them."""
        if not self._deferred:
            return
        with self._transaction():
            for write in self._deferred:
                write()
        self._deferred.clear()

    def _finish_if_there(self, rev: int, status: str, info: dict[str, Any]) -> None:
        try:
            self._history.finish(rev, status, info)
        except KeyError:  # gone with a dropped redo branch
            pass

    def _move_head(self, head: int) -> None:
        with self._transaction():
            self._history.set_head(head)
        self._layers.move_head(head)
        self._head = head
        self._top, self._extent = self._history.pyramid_state(head)

    def _check_not_running(self) -> Revision | None:
        """The head revision, unless it is still running: a job finishes before undo or the next job."""
        current = self._history.get(self._head) if self._head else None
        if current is not None and current.status == "running":
            raise StoreError(f"revision {current.id} is still running; finish or cancel it first")
        return current

    def _check_running_head(self, rev: int) -> None:
        if rev != self._head:
            raise StoreError(f"revision {rev} is not the head ({self._head}): it was undone or superseded")
        status = self._history.status(rev)
        if status != "running":
            raise StoreError(f"revision {rev} is {status or 'missing'}, not running")

    @contextmanager
    def _open(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            yield

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (KeyboardInterrupt too)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # also when COMMIT itself failed (disk full, busy)
                self._db.execute("ROLLBACK")
            raise


def _check_level(level: int) -> int:
    if not isinstance(level, (int, np.integer)) or not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"level must be an integer in 0..{MAX_LEVEL}, got {level!r}")
    return int(level)


def _plain(rect: Rect) -> Rect:
    """The rect with Python ints: numpy integers would not bind as SQLite parameters."""
    return Rect(int(rect.x), int(rect.y), int(rect.w), int(rect.h))


def _blocks(rect: Rect, size: int) -> Iterator[Rect]:
    """``rect`` cut along a ``size`` grid (tile-aligned when size is a multiple of TILE)."""
    for bx, by in rect.tiles(size):
        yield rect.intersect(Rect(bx * size, by * size, size, size))
