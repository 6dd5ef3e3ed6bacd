"""Revisions: one per job, in a single line of history with a head.

A revision is active when its id <= head. Undo and redo move the head; starting a
revision after an undo deletes the redo branch (its revisions and tile versions). Ids
come from AUTOINCREMENT and are never reused, so a tile's revision is a safe ETag.

Each revision also records the state of the pyramid after it (``top`` and the level-0
``extent`` of all content) so that moving the head restores that state with it, and the
level-0 bbox it ``touched``, which export uses to name the parameters of an image.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from canvas.store.database import get_meta, set_meta
from canvas.store.pyramid import MIN_TOP
from tiler.rect import Rect

STATUSES = ("running", "done", "cancelled", "failed", "interrupted")
FINISHED = STATUSES[1:]


@dataclass(frozen=True)
class Revision:
    """One job in the history, as the store hands it out (a snapshot, not a live row)."""

    id: int
    kind: str
    params: dict[str, Any]
    status: str
    created: float
    info: dict[str, Any] = field(default_factory=dict)
    active: bool = True


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, default=str)  # key order kept: export lists params as given


def _rect(text: str | None) -> Rect | None:
    return None if text is None else Rect.from_edges(*json.loads(text))


def _edges(rect: Rect | None) -> str | None:
    return None if rect is None else json.dumps([rect.x, rect.y, rect.x1, rect.y1])


class History:
    """The revisions table and the head pointer; the caller holds the lock and transactions."""

    COLUMNS = "id, kind, params, status, created, info"

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @property
    def head(self) -> int:
        return int(get_meta(self.db, "head") or 0)

    def set_head(self, rev: int) -> None:
        set_meta(self.db, "head", str(rev))

    def get(self, rev: int) -> Revision | None:
        row = self.db.execute(f"SELECT {self.COLUMNS} FROM revisions WHERE id = ?", (rev,)).fetchone()
        return None if row is None else self._revision(row, self.head)

    def status(self, rev: int) -> str | None:
        """The status alone: every commit checks it, and a revision's info may hold a long plan."""
        row = self.db.execute("SELECT status FROM revisions WHERE id = ?", (rev,)).fetchone()
        return None if row is None else row[0]

    def all(self) -> list[Revision]:
        head = self.head
        rows = self.db.execute(f"SELECT {self.COLUMNS} FROM revisions ORDER BY id").fetchall()
        return [self._revision(row, head) for row in rows]

    def previous(self, rev: int) -> int:
        """The revision before ``rev``, 0 for none."""
        row = self.db.execute("SELECT MAX(id) FROM revisions WHERE id < ?", (rev,)).fetchone()
        return row[0] or 0

    def following(self, rev: int) -> int | None:
        row = self.db.execute("SELECT MIN(id) FROM revisions WHERE id > ?", (rev,)).fetchone()
        return row[0]

    def create(
        self, kind: str, params: dict[str, Any], top: int, extent: Rect | None, info: dict[str, Any]
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO revisions (kind, params, status, created, info, touched, top, extent)"
            " VALUES (?, ?, 'running', ?, ?, NULL, ?, ?)",
            (kind, _dumps(params), time.time(), _dumps(info), top, _edges(extent)),
        )
        return int(cursor.lastrowid)

    def drop_after(self, head: int) -> None:
        self.db.execute("DELETE FROM revisions WHERE id > ?", (head,))

    def finish(self, rev: int, status: str, info: dict[str, Any]) -> None:
        row = self.db.execute("SELECT info FROM revisions WHERE id = ?", (rev,)).fetchone()
        if row is None:
            raise KeyError(rev)
        merged = {**json.loads(row[0]), **info}
        self.db.execute(
            "UPDATE revisions SET status = ?, info = ? WHERE id = ?", (status, _dumps(merged), rev)
        )

    def interrupt_running(self) -> int:
        """Revisions a killed process left running become interrupted; returns how many."""
        cursor = self.db.execute("UPDATE revisions SET status = 'interrupted' WHERE status = 'running'")
        return cursor.rowcount

    def pyramid_state(self, rev: int) -> tuple[int, Rect | None]:
        """(top, extent) after revision ``rev``; the empty canvas for 0."""
        row = self.db.execute("SELECT top, extent FROM revisions WHERE id = ?", (rev,)).fetchone()
        return (MIN_TOP, None) if row is None else (row[0], _rect(row[1]))

    def record_commit(self, rev: int, touched: Rect, top: int, extent: Rect) -> None:
        """Grow the revision's touched bbox and store the pyramid state after a commit."""
        row = self.db.execute("SELECT touched FROM revisions WHERE id = ?", (rev,)).fetchone()
        old = _rect(row[0]) if row else None
        touched = touched if old is None else old.union(touched)
        self.db.execute(
            "UPDATE revisions SET touched = ?, top = ?, extent = ? WHERE id = ?",
            (_edges(touched), top, _edges(extent), rev),
        )

    def touched(self, rev: int) -> Rect | None:
        """The bbox (level 0) of everything revision ``rev`` wrote; None if nothing."""
        row = self.db.execute("SELECT touched FROM revisions WHERE id = ?", (rev,)).fetchone()
        return _rect(row[0]) if row else None

    def latest_touching(self, area: Rect) -> Revision | None:
        """The newest active revision whose touched bbox meets ``area`` (level-0 coordinates)."""
        head = self.head
        rows = self.db.execute(
            f"SELECT {self.COLUMNS}, touched FROM revisions WHERE id <= ? AND touched IS NOT NULL"
            " ORDER BY id DESC",
            (head,),
        )
        for row in rows:
            if _rect(row[6]).intersects(area):
                return self._revision(row[:6], head)
        return None

    @staticmethod
    def _revision(row: tuple, head: int) -> Revision:
        rev, kind, params, status, created, info = row
        return Revision(rev, kind, json.loads(params), status, created, json.loads(info), rev <= head)
