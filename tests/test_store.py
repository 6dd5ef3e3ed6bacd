"""The canvas store: pixels in and out, the pyramid, coarse content, bounds, the cache.

History lives in test_store_history.py; files, export and crash safety in
test_store_files.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import canvas.store.pyramid as pyramid
from canvas.store import Store, StoreError
from canvas.store.pixels import downsample2
from tiler.rect import Rect


@pytest.fixture
def store():
    with Store.open(":memory:") as s:
        yield s


def noise(h: int, w: int, seed: int = 0, holes: bool = False) -> np.ndarray:
    """Random RGBA, opaque, or with binary alpha holes (and colour 0 where empty)."""
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    if holes:
        rgba[rng.random((h, w)) < 0.3] = 0
    return rgba


def paint(store: Store, level: int, rect: Rect, rgba: np.ndarray, changed=None) -> int:
    rev = store.begin_revision("test", {})
    store.commit(rev, level, rect, rgba, changed)
    store.finish_revision(rev)
    return rev


def box_mean(rgba: np.ndarray, f: int) -> np.ndarray:
    """Reference premultiplied f x f box downsample, in float."""
    h, w = rgba.shape[0] // f, rgba.shape[1] // f
    x = rgba.astype(np.float64).reshape(h, f, w, f, 4)
    a = x[..., 3].sum(axis=(1, 3))
    c = (x[..., :3] * x[..., 3:]).sum(axis=(1, 3)) / np.maximum(a, 1)[..., None]
    return np.dstack([c, a / (f * f)])


def reference_downsample2(rgba: np.ndarray) -> np.ndarray:
    """downsample2's rule in plain integers: colour round(sum(c * a) / sum(a)) half up, alpha ceil(mean)."""
    h, w = rgba.shape[0] // 2, rgba.shape[1] // 2
    blocks = rgba.astype(np.int64).reshape(h, 2, w, 2, 4)
    a = blocks[..., 3].sum(axis=(1, 3))
    ca = (blocks[..., :3] * blocks[..., 3:]).sum(axis=(1, 3))
    colour = (2 * ca + a[..., None]) // (2 * np.maximum(a, 1)[..., None])
    return np.dstack([colour, (a + 3) // 4]).astype(np.uint8)


@pytest.mark.parametrize("alphas", ["full", "binary", "any", "empty", "sparse"])
def test_downsample2_matches_the_integer_rule(alphas):
    rng = np.random.default_rng(len(alphas))
    for h, w in ((2, 2), (6, 10), (64, 64), (256, 128)):
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        alpha = {
            "full": np.full((h, w), 255),
            "binary": rng.choice([0, 255], (h, w)),
            "any": rng.integers(0, 256, (h, w)),
            "empty": np.zeros((h, w)),
            "sparse": rng.choice([0, 0, 0, 1, 254, 255], (h, w)),
        }[alphas]
        rgba[..., 3] = alpha
        rgba[alpha == 0] = 0  # the store's invariant: empty pixels hold colour 0
        np.testing.assert_array_equal(downsample2(rgba), reference_downsample2(rgba))
        view = np.zeros((h + 4, w + 6, 4), np.uint8)  # a strided slice, as pyramid passes
        view[2 : h + 2, 4 : w + 4] = rgba
        np.testing.assert_array_equal(downsample2(view[2 : h + 2, 4 : w + 4]), reference_downsample2(rgba))


def pyramid_of(rgba: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [rgba]
    for _ in range(levels):
        out.append(downsample2(out[-1]))
    return out


# -- pixels in, pixels out -----------------------------------------------------------------


def test_absent_is_transparent(store):
    for level in (0, 1, 5, 12):
        out = store.read(level, Rect(-1000, 3000, 300, 200))
        assert out.shape == (200, 300, 4) and out.dtype == np.uint8
        assert not out.any()
    assert store.bounds() == Rect(0, 0, 0, 0)


def test_negative_tile_crossing_round_trip(store):
    rect = Rect(-700, -300, 900, 650)  # crosses tile edges at -512, -256, 0, 256 in both axes
    rgba = noise(rect.h, rect.w, holes=True)
    paint(store, 0, rect, rgba)
    assert np.array_equal(store.read(0, rect), rgba)
    around = rect.grow(37, 300, 5, 1)
    out = store.read(0, around)
    inner = rect.relative_to(around)
    assert np.array_equal(out[inner.slices], rgba)
    out[inner.slices] = 0
    assert not out.any()
    for sub in (Rect(-700, -300, 1, 1), Rect(-257, -1, 3, 2), Rect(199, 349, 1, 1)):
        assert np.array_equal(store.read(0, sub), rgba[sub.relative_to(rect).slices])


@settings(max_examples=25, deadline=None)
@given(
    x=st.integers(-3000, 3000),
    y=st.integers(-3000, 3000),
    w=st.integers(1, 600),
    h=st.integers(1, 600),
    level=st.integers(0, 3),
)
def test_round_trip_anywhere(x, y, w, h, level):
    with Store.open(":memory:") as store:
        rect = Rect(x, y, w, h)
        rgba = noise(h, w, seed=(x + 3000) * 7000 + y + 3000, holes=True)
        paint(store, level, rect, rgba)
        assert np.array_equal(store.read(level, rect), rgba)
        assert store.bounds(level) == _known_box(rgba, rect)


def _known_box(rgba: np.ndarray, rect: Rect) -> Rect:
    ys, xs = np.nonzero(rgba[..., 3])
    if xs.size == 0:
        return Rect(0, 0, 0, 0)
    return Rect.from_edges(rect.x + xs.min(), rect.y + ys.min(), rect.x + xs.max() + 1, rect.y + ys.max() + 1)


def test_commit_validates_arguments(store):
    rev = store.begin_revision("test", {})
    with pytest.raises(ValueError):
        store.commit(rev, 0, Rect(0, 0, 10, 10), np.zeros((10, 11, 4), np.uint8))
    with pytest.raises(ValueError):
        store.commit(rev, 0, Rect(0, 0, 10, 10), np.zeros((10, 10, 4), np.float32))
    with pytest.raises(ValueError):
        store.commit(rev, 0, Rect(0, 0, 10, 10), np.zeros((10, 10, 4), np.uint8), np.ones((9, 10), bool))
    with pytest.raises(ValueError):
        store.read(-1, Rect(0, 0, 1, 1))


def test_changed_mask_touches_only_those_pixels(store):
    rect = Rect(-200, -100, 400, 300)
    before = noise(rect.h, rect.w, seed=1)
    paint(store, 0, rect, before)
    after = noise(rect.h, rect.w, seed=2, holes=True)  # holes: changed pixels may also erase
    changed = np.random.default_rng(3).random((rect.h, rect.w)) < 0.2
    changed[:, :150] = False
    paint(store, 0, rect, after, changed)
    expected = np.where(changed[..., None], after, before)
    assert np.array_equal(store.read(0, rect), expected)
    assert_pyramid_matches(store, rect.grow(64), 3)


def test_nothing_changed_writes_nothing(store):
    rev = store.begin_revision("test", {})
    store.commit(rev, 0, Rect(0, 0, 64, 64), noise(64, 64), np.zeros((64, 64), bool))
    assert store.bounds() == Rect(0, 0, 0, 0)
    assert store.tile_revision(0, 0, 0) == 0


# -- the pyramid ---------------------------------------------------------------------------


def assert_pyramid_matches(store: Store, area: Rect, levels: int) -> None:
    """read(L) equals level 0 downsampled L times, over an area aligned to 2**levels."""
    f = 1 << levels
    aligned = Rect.from_edges(area.x // f * f, area.y // f * f, -(-area.x1 // f) * f, -(-area.y1 // f) * f)
    expected = pyramid_of(store.read(0, aligned), levels)
    for level in range(1, levels + 1):
        got = store.read(level, aligned.to_level(0, level))
        assert np.array_equal(got, expected[level]), f"level {level}"


def test_levels_are_box_downsamples_of_level_0(store):
    rect = Rect(-512, -256, 1024, 768)
    rgba = noise(rect.h, rect.w, seed=4)
    paint(store, 0, rect, rgba)
    for level in (1, 2, 3):
        f = 1 << level
        got = store.read(level, rect.to_level(0, level)).astype(np.float64)
        want = box_mean(rgba, f)
        assert np.abs(got - want).max() <= (0.5 if level == 1 else level * 0.5 + 0.5)
        assert (got[..., 3] == 255).all()


def test_partial_coverage_gives_partial_alpha(store):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (200, 100, 50, 255)  # one known pixel of a 2x2 block
    rgba[2:, 2:] = (10, 20, 30, 255)  # a full block
    paint(store, 0, Rect(0, 0, 4, 4), rgba)
    level1 = store.read(1, Rect(0, 0, 2, 2))
    assert tuple(level1[0, 0]) == (200, 100, 50, 64)  # colour kept, alpha a quarter (rounded up)
    assert tuple(level1[1, 1]) == (10, 20, 30, 255)
    assert not level1[0, 1].any() and not level1[1, 0].any()
    # a single pixel stays visible however far out: bounds stay exact
    assert store.read(9, Rect(0, 0, 1, 1))[0, 0, 3] > 0
    assert store.bounds(9) == Rect(0, 0, 1, 1)


def test_incremental_pyramid_equals_recomputed(store):
    rng = np.random.default_rng(5)
    rev = store.begin_revision("test", {})
    for i in range(12):
        x, y = (int(v) for v in rng.integers(-900, 500, 2))
        w, h = (int(v) for v in rng.integers(1, 400, 2))
        changed = rng.random((h, w)) < 0.8 if i % 3 == 0 else None
        store.commit(rev, 0, Rect(x, y, w, h), noise(h, w, seed=i, holes=i % 2 == 0), changed)
    store.finish_revision(rev)
    assert_pyramid_matches(store, store.bounds(), 4)


def test_pyramid_grows_with_the_extent(store):
    paint(store, 0, Rect(0, 0, 256, 256), noise(256, 256, seed=6))
    top = store.top_level
    assert top >= 4
    far = Rect(400_000, -250_000, 64, 64)
    paint(store, 0, far, noise(64, 64, seed=7))
    assert store.top_level > top
    assert store.bounds(0) == Rect.from_edges(0, -250_000, 400_064, 256)
    extent = store.bounds(store.top_level)
    assert extent.w <= 256 and extent.h <= 256
    # levels above top are computed from it: still the same content, one pixel at level 25
    assert store.read(25, Rect(-2, -2, 4, 4))[..., 3].sum() > 0
    assert_pyramid_matches(store, Rect(0, 0, 256, 256), 3)
    for level in range(store.top_level - 1, store.top_level + 3):
        assert store.read(level, store.bounds(level))[..., 3].any()
        assert store.read(level, far.to_level(0, level))[..., 3].all()


# -- content authored at coarser levels ----------------------------------------------------


def test_coarse_content_shows_upsampled_and_hidden_under_finer(store):
    coarse = Rect(-32, -16, 64, 48)  # level 2: level-0 footprint (-128, -64, 256, 192)
    colour = np.array([10, 200, 30, 255], np.uint8)
    paint(store, 2, coarse, np.broadcast_to(colour, (48, 64, 4)).copy())
    fine_rect = Rect(-50, -30, 100, 70)  # level 0, not aligned to level-2 pixels
    fine = noise(70, 100, seed=8)
    paint(store, 0, fine_rect, fine)

    footprint = coarse.to_level(2, 0)
    out = store.read(0, footprint.grow(8))
    expected = np.zeros_like(out)
    expected[footprint.relative_to(footprint.grow(8)).slices] = colour
    expected[fine_rect.relative_to(footprint.grow(8)).slices] = fine
    assert np.array_equal(out, expected)
    assert store.bounds(0) == footprint
    assert store.bounds(2) == coarse

    # level 2 shows fine(2): the level-0 content downsampled over the authored pixels
    level2 = store.read(2, coarse)
    down = store.read(2, fine_rect.to_level(0, 2))
    assert (level2[..., 3] == 255).all()
    inner = Rect(-12, -7, 24, 15)  # level-2 pixels fully covered by the level-0 content
    got = level2[inner.relative_to(coarse).slices]
    assert np.array_equal(got, down[inner.relative_to(fine_rect.to_level(0, 2)).slices])
    assert (level2[0, 0] == colour).all()

    # level 1 shows finer content where known, else the coarse pixels upsampled
    level1 = store.read(1, coarse.to_level(2, 1))
    assert (level1[..., 3] == 255).all()
    assert (level1[0, 0] == colour).all()
    cover = Rect(-25, -15, 50, 35)  # level-1 pixels fully inside the level-0 content
    got = level1[cover.relative_to(coarse.to_level(2, 1)).slices]
    assert np.array_equal(got, downsample2(fine)[cover.translate(25, 15).slices])


def test_coarse_tile_revision_counts_for_finer_views(store):
    rev = paint(store, 3, Rect(0, 0, 8, 8), np.full((8, 8, 4), 255, np.uint8))
    assert store.tile_revision(0, 0, 0) == rev  # level 0 shows it upsampled
    assert store.tile_revision(0, 1, 0) == 0  # beyond the 64 px footprint
    assert store.tile_revision(3, 0, 0) == rev


# -- bounds, tile revisions, the cache -----------------------------------------------------


def test_bounds_follow_content_and_erasure(store):
    paint(store, 0, Rect(-300, -20, 50, 40), noise(40, 50))
    paint(store, 0, Rect(1000, 700, 10, 10), noise(10, 10))
    assert store.bounds(0) == Rect.from_edges(-300, -20, 1010, 710)
    assert store.bounds(1) == Rect.from_edges(-150, -10, 505, 355)
    assert store.bounds(3) == Rect(-300, -20, 1310, 730).to_level(0, 3)
    paint(store, 0, Rect(1000, 700, 10, 10), np.zeros((10, 10, 4), np.uint8))  # erase
    assert store.bounds(0) == Rect(-300, -20, 50, 40)
    assert not store.read(2, Rect(240, 165, 20, 20)).any()


def test_tile_revision(store):
    first = paint(store, 0, Rect(-10, -10, 20, 20), noise(20, 20))
    second = paint(store, 0, Rect(300, 0, 10, 10), noise(10, 10))
    assert store.tile_revision(0, -1, -1) == first
    assert store.tile_revision(0, 1, 0) == second
    assert store.tile_revision(0, 5, 5) == 0
    assert store.tile_revision(4, 0, 0) == second  # the pyramid tile holds both
    assert store.tile_revision(30, 0, 0) == second  # above the top level too
    store.undo()
    assert store.tile_revision(4, 0, 0) == first
    assert store.tile_revision(0, 1, 0) == 0


def test_painted_tiles_and_read_tile_agree_with_tile_revision(store):
    first = paint(store, 0, Rect(-10, -10, 20, 20), noise(20, 20))
    second = paint(store, 0, Rect(300, 0, 10, 10), noise(10, 10))
    area = Rect(-512, -512, 1024, 1024)
    assert store.painted_tiles(0, area) == [(-1, -1, first), (0, -1, first), (-1, 0, first), (0, 0, first), (1, 0, second)]
    assert store.painted_tiles(0, Rect(2048, 0, 512, 512)) == []
    assert store.painted_tiles(4, Rect(0, 0, 256, 256)) == [(0, 0, second)]
    rev, pixels = store.read_tile(0, 1, 0)
    assert rev == second and np.array_equal(pixels, store.read(0, Rect(256, 0, 256, 256)))
    assert store.read_tile(0, 5, 5) == (0, None)


def solid(h: int, w: int, colour: tuple[int, int, int]) -> np.ndarray:
    rgba = np.full((h, w, 4), 255, np.uint8)
    rgba[..., :3] = colour
    return rgba


def test_finer_content_fades_into_coarser_content_under_its_edge_when_shown(store):
    # a zoom-out: a white original at level 0, a black ring authored at level 2 around it
    ring = paint(store, 2, Rect(-64, -64, 256, 256), solid(256, 256, (0, 0, 0)))
    original = paint(store, 0, Rect(0, 0, 512, 512), solid(512, 512, (255, 255, 255)))
    exact = store.read(0, Rect(-64, 200, 640, 64))
    assert (exact[:, 64:576, :3] == 255).all() and (exact[:, :64, :3] == 0).all()  # a hard line
    shown = store.read(0, Rect(-64, 200, 640, 64), fade=32)
    assert (shown[..., 3] == 255).all()
    row = shown[10, :, 0].astype(int)
    assert (row[:64] == 0).all() and (row[64 + 40 : 576 - 40] == 255).all()  # far from the edge: as painted
    ramp = row[64 : 64 + 40]
    assert ramp[0] < 20 and ramp[-1] == 255 and (np.diff(ramp) >= 0).all()  # a gradual fade, no jump
    assert np.abs(np.diff(row)).max() <= 255 // 16
    # where nothing lies under the edge, it stays sharp (the border of the whole canvas)
    assert np.array_equal(store.read(0, Rect(0, 600, 64, 64), fade=32), store.read(0, Rect(0, 600, 64, 64)))
    # the tile next to a change sees it when fading: its revision counts the neighbour's
    assert store.tile_revision(0, 1, 0) == original
    later = paint(store, 0, Rect(512, 0, 16, 16), solid(16, 16, (255, 255, 255)))
    assert store.tile_revision(0, 1, 0) == original and store.tile_revision(0, 1, 0, fade=32) == later
    assert store.tile_revision(0, 5, 5, fade=32) == store.tile_revision(0, 5, 5) == 0
    assert ring < original


def test_coarse_content_is_shown_soft_but_read_exact(store):
    stripes = np.full((64, 64, 4), 255, np.uint8)
    stripes[:, ::2, :3] = 0  # one-pixel stripes, authored two levels up
    paint(store, 2, Rect(0, 0, 64, 64), stripes)
    exact = store.read(0, Rect(64, 64, 64, 64))
    shown = store.read(0, Rect(64, 64, 64, 64), fade=32)
    assert set(np.unique(exact[..., 0])) == {0, 255}  # blocks of 4 px, the coarse pixels as they are
    assert set(np.unique(shown[..., 0])) == {32, 96, 159, 223}  # interpolated between them
    assert np.array_equal(shown[..., 3], exact[..., 3])  # with the same, exact, coverage
    assert abs(float(shown[..., 0].mean()) - float(exact[..., 0].mean())) < 8


def test_cache_stays_within_its_bound():
    with Store.open(":memory:", cache_mb=1) as store:
        rect = Rect(-1024, -512, 2048, 1024)  # 32 level-0 tiles, 8 MB
        paint(store, 0, rect, noise(rect.h, rect.w))
        assert store.cache.size_bytes <= store.cache.limit_bytes == 2**20
        for level in (0, 1, 2, 0):
            store.read(level, rect.to_level(0, level))
            assert 0 < store.cache.size_bytes <= 2**20
        assert np.array_equal(store.read(0, rect), noise(rect.h, rect.w))


def test_closed_store_refuses(store):
    store.close()
    with pytest.raises(StoreError):
        store.read(0, Rect(0, 0, 1, 1))
    store.close()  # twice is fine


def test_failed_commit_leaves_nothing(store, monkeypatch):
    rect = Rect(-100, -100, 300, 300)
    before = noise(300, 300, seed=9)
    paint(store, 0, rect, before)
    levels_before = [store.read(level, rect.to_level(0, level)) for level in range(4)]
    rows_before = store._db.execute("SELECT COUNT(*) FROM tiles").fetchone()[0]

    calls = {"n": 0}

    def failing(rgba):
        calls["n"] += 1
        if calls["n"] == 3:  # own tiles and part of the pyramid are already written
            raise RuntimeError("disk on fire")
        return downsample2(rgba)

    monkeypatch.setattr(pyramid, "downsample2", failing)
    rev = store.begin_revision("test", {})
    with pytest.raises(RuntimeError):
        store.commit(rev, 0, Rect(-400, -50, 600, 300), noise(300, 600, seed=10))
    monkeypatch.undo()

    assert calls["n"] == 3
    for level in range(4):
        assert np.array_equal(store.read(level, rect.to_level(0, level)), levels_before[level])
    assert store.bounds() == rect
    assert store._db.execute("SELECT COUNT(*) FROM tiles").fetchone()[0] == rows_before
    assert not store._db.in_transaction
    # the revision still works afterwards
    store.commit(rev, 0, Rect(0, 0, 10, 10), noise(10, 10, seed=11))
    assert np.array_equal(store.read(0, Rect(0, 0, 10, 10)), noise(10, 10, seed=11))
    assert_pyramid_matches(store, rect, 3)


def test_reads_from_another_thread_while_committing(store):
    import threading

    rev = store.begin_revision("test", {})
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                out = store.read(1, Rect(-64, -64, 256, 256))
                assert set(np.unique(out[..., 3])) <= {0, 255}  # whole windows only
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(20):
        rect = Rect(-128 + 16 * i, -128, 256, 256)  # level-1 footprint aligned: no partial alpha
        store.commit(rev, 0, rect, np.full((256, 256, 4), 255, np.uint8))
    stop.set()
    thread.join()
    store.finish_revision(rev)
    assert not errors


def test_any_strided_array_commits(store):
    rgba = noise(40, 40, seed=12, holes=True)
    for rev, strided in enumerate((rgba[::-1, ::-2], np.asfortranarray(rgba[:, :20]))):
        paint(store, 0, Rect(3, -5 + 50 * rev, 20, 40), strided)  # reversed rows, channel planes
        assert np.array_equal(store.read(0, Rect(3, -5 + 50 * rev, 20, 40)), strided)


def test_numpy_integers_are_accepted(store):
    rect = Rect(np.int64(-300), np.int64(7), np.int64(20), np.int64(10))
    rev = store.begin_revision("test", {})
    store.commit(rev, np.int64(1), rect, noise(10, 20))
    assert np.array_equal(store.read(np.int32(1), rect), noise(10, 20))
    assert store.tile_revision(np.int64(1), np.int64(-2), np.int64(0)) == rev
