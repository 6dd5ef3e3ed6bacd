"""The canvas store's history: revisions, undo, redo, the redo branch, statuses."""

from __future__ import annotations

import time

import numpy as np
import pytest

from canvas.store import Revision, Store, StoreError
from tiler.rect import Rect


@pytest.fixture
def store():
    with Store.open(":memory:") as s:
        yield s


def solid(rect: Rect, colour: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array([*colour, 255], np.uint8), (rect.h, rect.w, 4)).copy()


def paint(store: Store, rect: Rect, colour: tuple[int, int, int], **params) -> int:
    rev = store.begin_revision("test", params)
    store.commit(rev, 0, rect, solid(rect, colour))
    store.finish_revision(rev)
    return rev


def colour_at(store: Store, x: int, y: int, level: int = 0) -> tuple[int, ...]:
    return tuple(int(v) for v in store.read(level, Rect(x, y, 1, 1))[0, 0])


A, B, C = Rect(-300, -300, 400, 400), Rect(0, 0, 400, 400), Rect(5000, 5000, 100, 100)


def test_undo_redo_walk_the_line(store):
    first = paint(store, A, (255, 0, 0))
    second = paint(store, B, (0, 0, 255))
    assert store.head == second
    assert colour_at(store, 50, 50) == (0, 0, 255, 255)

    undone = store.undo()
    assert isinstance(undone, Revision) and undone.id == second and not undone.active
    assert store.head == first
    assert colour_at(store, 50, 50) == (255, 0, 0, 255)
    assert colour_at(store, 300, 300) == (0, 0, 0, 0)
    assert colour_at(store, 12, 12, level=2) == (255, 0, 0, 255)  # the pyramid follows
    assert store.bounds() == A

    assert store.undo().id == first
    assert store.head == 0 and store.bounds() == Rect(0, 0, 0, 0)
    assert not store.read(3, Rect(-40, -40, 80, 80)).any()
    assert store.undo() is None

    assert store.redo().id == first
    redone = store.redo()
    assert redone.id == second and redone.active
    assert colour_at(store, 50, 50) == (0, 0, 255, 255)
    assert colour_at(store, 12, 12, level=2) == (0, 0, 255, 255)
    assert store.redo() is None


def test_new_revision_drops_the_redo_branch(store):
    first = paint(store, A, (255, 0, 0))
    second = paint(store, B, (0, 0, 255))
    store.undo()
    third = paint(store, C, (0, 255, 0))
    assert third > second  # ids are never reused: tile ETags stay unique
    assert [r.id for r in store.history()] == [first, third]
    assert store.redo() is None
    assert store._db.execute("SELECT COUNT(*) FROM tiles WHERE rev = ?", (second,)).fetchone()[0] == 0
    orphans = "SELECT COUNT(*) FROM blobs WHERE id NOT IN (SELECT blob FROM tiles WHERE blob IS NOT NULL)"
    assert store._db.execute(orphans).fetchone()[0] == 0
    assert colour_at(store, 50, 50) == (255, 0, 0, 255)
    assert colour_at(store, 300, 300) == (0, 0, 0, 0)
    assert store.bounds() == A.union(C)


def test_undo_restores_the_pyramid_extent(store):
    paint(store, A, (255, 0, 0))
    top = store.top_level
    paint(store, Rect(2_000_000, 0, 10, 10), (0, 0, 255))
    assert store.top_level > top
    store.undo()
    assert store.top_level == top
    assert store.bounds(20) == A.to_level(0, 20)
    assert colour_at(store, 0, 0, level=20)[3] > 0
    store.redo()
    assert store.bounds() == A.union(Rect(2_000_000, 0, 10, 10))


def test_history_keeps_params_statuses_and_info(store):
    started = time.time()
    first = paint(store, A, (1, 2, 3), painter="patchmatch", seed=0, window=512)
    second = store.begin_revision("outpaint", {"prompt": "a lighthouse", "steps": 20})
    store.commit(second, 0, B, solid(B, (4, 5, 6)))
    store.finish_revision(second, "cancelled", windows=1)
    store.finish_revision(second, "cancelled", reason="user")
    third = store.begin_revision("zoom", {})
    store.finish_revision(third, "failed", error="painter crashed")
    store.undo()

    history = store.history()
    assert [(r.id, r.kind, r.status, r.active) for r in history] == [
        (first, "test", "done", True),
        (second, "outpaint", "cancelled", True),
        (third, "zoom", "failed", False),
    ]
    assert history[0].params == {"painter": "patchmatch", "seed": 0, "window": 512}
    assert history[1].params == {"prompt": "a lighthouse", "steps": 20}
    assert history[1].info == {"windows": 1, "reason": "user"}
    assert history[2].info == {"error": "painter crashed"}
    assert all(started - 1 <= r.created <= time.time() for r in history)


def test_revision_rules(store):
    rev = store.begin_revision("test", {})
    with pytest.raises(StoreError, match="running"):
        store.undo()  # finish or cancel the job first
    with pytest.raises(StoreError, match="running"):
        store.begin_revision("test", {})  # one job writes at a time
    with pytest.raises(ValueError):
        store.finish_revision(rev, "sleeping")
    with pytest.raises(StoreError):
        store.finish_revision(rev + 100)
    store.finish_revision(rev)
    with pytest.raises(StoreError, match="not running"):
        store.commit(rev, 0, A, solid(A, (1, 1, 1)))
    later = store.begin_revision("test", {})
    with pytest.raises(StoreError, match="not the head"):
        store.commit(rev, 0, A, solid(A, (1, 1, 1)))
    store.commit(later, 0, A, solid(A, (1, 1, 1)))
    store.finish_revision(later, "interrupted")


def test_all_windows_of_a_job_share_one_revision(store):
    rev = store.begin_revision("outpaint", {})
    for i, colour in enumerate([(10, 0, 0), (20, 0, 0), (30, 0, 0)]):
        store.commit(rev, 0, Rect(i * 200, 0, 300, 300), solid(Rect(0, 0, 300, 300), colour))
    store.finish_revision(rev, windows=3)
    assert store._db.execute("SELECT COUNT(DISTINCT rev) FROM tiles").fetchone()[0] == 1
    assert store._db.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM tiles GROUP BY layer, level, tx, ty HAVING COUNT(*) > 1)"
    ).fetchone()[0] == 0
    assert colour_at(store, 250, 10) == (20, 0, 0, 255)
    assert colour_at(store, 450, 10) == (30, 0, 0, 255)
    store.undo()
    assert store.bounds() == Rect(0, 0, 0, 0)


def test_erasing_then_undo_brings_pixels_back(store):
    paint(store, A, (200, 100, 0))
    rev = store.begin_revision("erase", {})
    store.commit(rev, 0, A, np.zeros((A.h, A.w, 4), np.uint8))
    store.finish_revision(rev)
    assert store.bounds() == Rect(0, 0, 0, 0)
    assert not store.read(2, A.to_level(0, 2)).any()
    store.undo()
    assert store.bounds() == A
    assert colour_at(store, -300, -300) == (200, 100, 0, 255)
    assert colour_at(store, -75, -75, level=2) == (200, 100, 0, 255)
    store.redo()
    assert store.bounds() == Rect(0, 0, 0, 0)


@pytest.mark.parametrize("seed", range(3))
def test_random_history_equals_replaying_the_active_revisions(seed):
    """Undo, redo, dropped branches, erasures, coarse levels and a growing pyramid, checked
    against a fresh store that replays only the commits of the active revisions."""
    rng = np.random.default_rng(seed)
    commits: dict[int, list[tuple]] = {}
    with Store.open(":memory:") as store:
        for _ in range(30):
            action = rng.choice(["paint", "paint", "undo", "redo"])
            if action == "undo":
                store.undo()
            elif action == "redo":
                store.redo()
            else:
                rev = store.begin_revision("test", {})
                commits[rev] = []
                for _ in range(int(rng.integers(1, 4))):
                    level = int(rng.choice([0, 0, 0, 1, 2]))
                    far = 40_000 if rng.random() < 0.1 else 0
                    x, y = (int(v) for v in rng.integers(-400, 300, 2))
                    w, h = (int(v) for v in rng.integers(1, 300, 2))
                    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
                    rgba[..., 3] = np.where(rng.random((h, w)) < 0.15, 0, 255)  # some erasing
                    changed = rng.random((h, w)) < 0.7 if rng.random() < 0.5 else None
                    commits[rev].append((level, Rect(x + far, y, w, h), rgba, changed))
                    store.commit(rev, level, Rect(x + far, y, w, h), rgba, changed)
                store.finish_revision(rev)

        with Store.open(":memory:") as replay:
            for revision in store.history():
                if revision.active:
                    rev = replay.begin_revision("test", {})
                    for commit in commits[revision.id]:
                        replay.commit(rev, *commit)
                    replay.finish_revision(rev)
            assert store.bounds() == replay.bounds()
            assert store.top_level == replay.top_level
            area = store.bounds().union(Rect(-1600, -1600, 3200, 3200))
            for level in range(store.top_level + 2):
                rect = area.to_level(0, level)
                if rect.area > 4_000_000:
                    rect = Rect(-1600, -1600, 3200, 3200).to_level(0, level)
                assert np.array_equal(store.read(level, rect), replay.read(level, rect)), level
