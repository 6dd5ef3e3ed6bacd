"""The SQLite file: schema, connection settings, and the meta table.

One file holds a canvas. ``tiles`` is the index of versioned tiles, keyed
(layer, level, tx, ty, rev), small rows in a WITHOUT ROWID b-tree so lookups and scans
never touch pixels; the pixels live in ``blobs``, one row per tile version (a tile of
256 KB in the index b-tree would spill every scan into overflow pages). A tile row with
a NULL blob is a tombstone: the tile became empty at that revision while an older
version still holds pixels. ``revisions`` is the history; ``meta`` holds the format
marker, the schema version, the head and the canvas's identity (a random id that
names this file in ETags and caches: a canvas made again under an old name is another).
``jobs`` holds the jobs a server accepted and has not finished (see ``jobs``).

WAL with synchronous=NORMAL: a commit is atomic and survives a killed process (the OS
has the pages); only a power cut can lose the last few commits, never corrupt the file.

A canvas in a folder this process cannot write (a read-only mount, a folder of someone
else's) opens read-only: SQLite cannot make the -shm file WAL readers need there, so it
is opened `immutable` (no locks, no -shm) with `query_only`, and every write fails with
SQLITE_READONLY. That is safe because nobody can be writing it through a read-only
folder; a canvas whose -wal file still holds commits (its writer was killed) is refused
instead, as immutable reading would not see them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from pathlib import Path

from canvas.store.errors import READ_ONLY, StoreError, storage_problem
from canvas.store.jobs import SCHEMA as JOBS_SCHEMA

FORMAT = "boundless-canvas"
SCHEMA_VERSION = 1
PAGE_SIZE = 16384  # fewer overflow pages per 256 KB tile; set once, when the file is made

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: tile ETags stay unique
    kind TEXT NOT NULL,
    params TEXT NOT NULL,                  -- JSON object
    status TEXT NOT NULL,                  -- running, done, cancelled, failed, interrupted
    created REAL NOT NULL,                 -- unix time
    info TEXT NOT NULL,                    -- JSON object
    touched TEXT,                          -- JSON [x0, y0, x1, y1] at level 0, or NULL
    top INTEGER NOT NULL,                  -- top pyramid level after this revision
    extent TEXT                            -- JSON [x0, y0, x1, y1] at level 0 of all content
);
CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE tiles (
    layer INTEGER NOT NULL,                -- 0 own (authored at level), 1 fine (derived)
    level INTEGER NOT NULL,
    tx INTEGER NOT NULL,
    ty INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    x0 INTEGER NOT NULL, y0 INTEGER NOT NULL,   -- bbox of alpha > 0 inside the tile
    x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
    blob INTEGER,                          -- blobs.id, or NULL for a tombstone
    PRIMARY KEY (layer, level, tx, ty, rev)
) WITHOUT ROWID;
CREATE INDEX tiles_by_rev ON tiles (rev);
""" + JOBS_SCHEMA


def connect(path: str, *, create: bool) -> sqlite3.Connection:
    """Open (or make) a canvas file and check it is one this code can read and write."""
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open canvas {path}: {exc}", storage_problem(exc)) from exc
    try:
        _prepare(db, path, create)
    except sqlite3.Error as exc:  # the file (or its -wal, -shm) cannot be opened or written
        db.close()
        problem = storage_problem(exc)
        if problem != READ_ONLY or not Path(path).is_file():
            why = f"its folder is read-only or not ours to write ({exc})" if problem == READ_ONLY else str(exc)
            raise StoreError(f"cannot open canvas {path}: {why}", problem) from exc
        return _connect_read_only(path)
    except BaseException:
        db.close()
        raise
    return db


def is_read_only(db: sqlite3.Connection) -> bool:
    return bool(db.execute("PRAGMA query_only").fetchone()[0])


def _connect_read_only(path: str) -> sqlite3.Connection:
    wal = Path(path + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        raise StoreError(f"{path} is in a folder this process cannot write, and its last commits are still in "
                         f"{wal.name}: make the folder writable to open it", READ_ONLY)
    uri = Path(path).resolve().as_uri() + "?immutable=1"
    db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA query_only = 1")
        _prepare(db, path, create=False)
    except sqlite3.Error as exc:
        db.close()
        raise StoreError(f"cannot open canvas {path}: {exc}", storage_problem(exc)) from exc
    except BaseException:
        db.close()
        raise
    return db


def _prepare(db: sqlite3.Connection, path: str, create: bool) -> None:
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if storage_problem(exc) == READ_ONLY:  # cannot open: not a judgement on the file
            raise
        raise StoreError(f"{path} is not a Boundless canvas (not an SQLite database: {exc})") from exc
    if not tables:
        if not create:
            raise StoreError(f"{path} is an empty database, not a Boundless canvas")
        _create(db)
    elif "meta" not in tables or "tiles" not in tables:
        raise StoreError(f"{path} is an SQLite database but not a Boundless canvas")
    meta = dict(db.execute("SELECT key, value FROM meta"))
    if meta.get("format") != FORMAT:
        raise StoreError(f"{path} is an SQLite database but not a Boundless canvas")
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has canvas schema version {version}, newer than this Boundless "
            f"understands ({SCHEMA_VERSION}); upgrade Boundless to open it"
        )
    if version < SCHEMA_VERSION:
        raise StoreError(f"{path} has canvas schema version {version}, which has no migration")
    if "id" not in meta:  # files from before canvases had an identity get one now
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only file keeps none
            set_meta(db, "id", uuid.uuid4().hex)
    if "jobs" not in tables:  # files from before jobs were recorded (an added table: same schema version)
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only file records none
            db.execute(JOBS_SCHEMA)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA mmap_size = 268435456")
    db.execute("PRAGMA journal_size_limit = 67108864")
    db.execute("PRAGMA cache_size = -16384")


def _create(db: sqlite3.Connection) -> None:
    db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):  # executescript would COMMIT on its own
            if statement.strip():
                db.execute(statement)
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("format", FORMAT), ("schema_version", str(SCHEMA_VERSION)), ("head", "0"), ("id", uuid.uuid4().hex)],
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
