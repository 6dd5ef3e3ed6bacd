"""Jobs a server accepted and has not finished, kept in the canvas file, so that a killed
process can say which work it lost instead of dropping it without a word.

A job is recorded (``waiting``) before its submitter hears `ok`, and forgotten once it
ends, whatever the end (its outcome is its revision's status). The revision a job starts
carries the job's ``key`` in its info, written in the same transaction that creates it.

On the next open by a sole owner (see ``lock``), every record still there is a job that
was queued or running when the process died: it becomes ``interrupted``, with the
revision it had started, if any (that revision is ``interrupted`` too, and keeps the
windows it committed). A record whose revision did finish (the process died between the
revision's end and the record's removal) is removed instead. Interrupted jobs are not
run again: the canvas may have changed since they were asked for, and they were asked
for by someone looking at it then. The newest ``KEEP`` are kept for clients to show.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,              -- random: the revision a job starts has it in info.job
    job TEXT NOT NULL,                     -- the job's id as clients saw it
    kind TEXT NOT NULL,
    client TEXT NOT NULL,
    request TEXT NOT NULL,                 -- JSON object: what was asked
    state TEXT NOT NULL,                   -- waiting, interrupted
    rev INTEGER,                           -- interrupted: the revision it had started
    created REAL NOT NULL,                 -- unix time
    ended REAL                             -- interrupted: when that was found
)
"""
KEEP = 32  # interrupted jobs kept per canvas, newest first
INFO_KEY = "job"  # where a revision's info names the job that made it


@dataclass(frozen=True)
class JobRecord:
    job: str
    kind: str
    client: str
    request: dict[str, Any]
    state: str
    rev: int | None
    created: float
    ended: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "kind": self.kind, "client": self.client, "request": self.request,
                "rev": self.rev, "created": self.created, "ended": self.ended}


class JobLog:
    """The jobs table; the caller holds the store lock and its transactions."""

    COLUMNS = "job, kind, client, request, state, rev, created, ended"

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, key: str, job: str, kind: str, client: str, request: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO jobs (key, job, kind, client, request, state, created) VALUES (?, ?, ?, ?, ?, 'waiting', ?)",
            (key, job, kind, client, json.dumps(request, default=str), time.time()),
        )

    def remove(self, key: str) -> None:
        self.db.execute("DELETE FROM jobs WHERE key = ?", (key,))

    def interrupted(self) -> list[JobRecord]:
        try:
            rows = self.db.execute(
                f"SELECT {self.COLUMNS} FROM jobs WHERE state = 'interrupted' ORDER BY id"
            ).fetchall()
        except sqlite3.OperationalError:  # an old file opened read-only: it has no jobs table
            return []
        return [JobRecord(job, kind, client, json.loads(request), state, rev, created, ended)
                for job, kind, client, request, state, rev, created, ended in rows]

    def interrupt_waiting(self) -> int:
        """Records left by a killed process become interrupted (see the module); returns how many."""
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone() is None:
            return 0  # an old file opened read-only: nothing was recorded in it
        now, count = time.time(), 0
        for row_id, key in self.db.execute("SELECT id, key FROM jobs WHERE state = 'waiting'").fetchall():
            found = self.db.execute(
                "SELECT id, status FROM revisions WHERE json_extract(info, '$." + INFO_KEY + "') = ?", (key,)
            ).fetchone()
            if found is not None and found[1] not in ("running", "interrupted"):
                self.db.execute("DELETE FROM jobs WHERE id = ?", (row_id,))  # it did end
                continue
            self.db.execute(
                "UPDATE jobs SET state = 'interrupted', rev = ?, ended = ? WHERE id = ?",
                (None if found is None else found[0], now, row_id),
            )
            count += 1
        self.db.execute(
            "DELETE FROM jobs WHERE state = 'interrupted' AND id NOT IN"
            " (SELECT id FROM jobs WHERE state = 'interrupted' ORDER BY id DESC LIMIT ?)",
            (KEEP,),
        )
        return count
