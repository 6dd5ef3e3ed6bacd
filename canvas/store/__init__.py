"""The canvas store: a sparse, unbounded, multi-resolution RGBA canvas in one SQLite file.

Pixels are stored as 256 x 256 RGBA tiles per level, in two layers: ``own`` (authored at
that level) and ``fine`` (the pyramid of everything at or below it, kept up to date on
write). Every tile is versioned by the revision that wrote it, which gives undo and redo.

Modules: ``store`` (the Store API), ``database`` (schema, connection), ``tiles`` (grid
maths and tile codec), ``pixels`` (downsample, upsample, OVER), ``layers`` (versioned
tiles, index), ``pyramid`` (derived levels), ``view`` (what a level shows), ``history``
(revisions), ``jobs`` (jobs a server accepted, for crash reports), ``cache`` (LRU of
decoded tiles), ``images`` (import, PNG export), ``lock`` (who has the canvas open),
``errors`` (and what a failing disk means).
"""

from canvas.store.errors import StoreError
from canvas.store.history import Revision
from canvas.store.store import Store

__all__ = ["Revision", "Store", "StoreError"]
