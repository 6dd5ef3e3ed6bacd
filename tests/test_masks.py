"""Window masks: exact L1 distances, band and alpha invariants, bit-exact compositing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiler.composite import composite
from tiler.masks import FAR, WindowMasks, _distance, _taper_at_border, distance_l1, window_masks


def brute_distance(sources: np.ndarray) -> np.ndarray:
    """City-block distance by comparing every pixel with every source (small arrays only)."""
    h, w = sources.shape
    ys, xs = np.nonzero(sources)
    if ys.size == 0:
        return np.full((h, w), FAR, np.int64)
    gy, gx = np.mgrid[0:h, 0:w]
    return (np.abs(gy[..., None] - ys) + np.abs(gx[..., None] - xs)).min(axis=-1)


@st.composite
def masks(draw, h: int, w: int) -> np.ndarray:
    """A bool mask: a few rectangles, or random blobs of some density."""
    m = np.zeros((h, w), bool)
    if draw(st.booleans()):
        for _ in range(draw(st.integers(0, 3))):
            y0, y1 = sorted(draw(st.tuples(st.integers(0, h), st.integers(0, h))))
            x0, x1 = sorted(draw(st.tuples(st.integers(0, w), st.integers(0, w))))
            m[y0:y1, x0:x1] = True
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        m = rng.random((h, w)) < draw(st.sampled_from([0.02, 0.2, 0.5, 0.9]))
    return m


@st.composite
def windows(draw):
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    known, fill = draw(masks(h, w)), draw(masks(h, w))
    if draw(st.booleans()):
        fill &= ~known  # the usual case; overlapping is inpainting
    pad = draw(st.integers(0, 8))
    feather = draw(st.integers(0, pad))
    ring = draw(masks(h + 2, w + 2)) if draw(st.booleans()) else None
    seed = draw(st.integers(0, 2**32 - 1))
    return known, fill, pad, feather, ring, seed


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 24), st.integers(1, 24), st.data())
def test_distance_l1_is_exact(h, w, data):
    sources = data.draw(masks(h, w))
    d = distance_l1(sources)
    assert d.dtype == np.int32
    np.testing.assert_array_equal(d, brute_distance(sources))


@pytest.mark.parametrize("shape", [(3, 300), (130, 2), (1, 16400)])  # uint8, int16, int32 paths
def test_distance_l1_on_wide_arrays(shape):
    rng = np.random.default_rng(0)
    sources = rng.random(shape) < 0.01
    sources[0, 0] = True
    expected = brute_distance(sources) if sources.size < 2000 else None
    d = distance_l1(sources)
    if expected is not None:
        np.testing.assert_array_equal(d, expected)
    else:  # one row: the distance to the nearest source index
        xs = np.flatnonzero(sources[0])
        np.testing.assert_array_equal(d[0], np.abs(np.arange(shape[1])[:, None] - xs).min(axis=1))
    assert (distance_l1(np.zeros(shape, bool)) == FAR).all()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 24), st.integers(1, 24), st.integers(0, 40), st.data())
def test_truncated_distance_is_exact_up_to_limit(h, w, limit, data):
    sources = data.draw(masks(h, w))
    d, _ = _distance(sources, limit=limit)
    exact = brute_distance(sources)
    near = exact <= limit
    np.testing.assert_array_equal(d[near], exact[near])
    assert (d[~near] > limit).all()


@settings(max_examples=300, deadline=None)
@given(windows())
def test_window_masks_invariants_and_bit_exact_composite(window):
    known, fill, pad, feather, ring, seed = window
    m = window_masks(known, fill, pad=pad, feather=feather, outside_known=ring)
    h, w = known.shape
    assert m.alpha.dtype == np.float32 and m.alpha.shape == (h, w)

    d = brute_distance(fill)
    np.testing.assert_array_equal(m.band, known & ~fill & (d <= pad))
    np.testing.assert_array_equal(m.generate, fill | (~known & ~fill) | m.band)
    assert (m.alpha[fill] == 1.0).all()
    assert (m.alpha[~(fill | m.band)] == 0.0).all()
    assert (m.alpha[m.band] > 0.0).all() and (m.alpha <= 1.0).all()

    # The exact ramp, tapered towards known pixels just outside the window.
    expected = np.minimum(1.0, (pad + 1 - d) / (feather + 1))
    if ring is not None and feather > 0:
        ring_only = ring.copy()
        ring_only[1:-1, 1:-1] = False
        d_out = brute_distance(ring_only)[1:-1, 1:-1]
        expected = np.minimum(expected, d_out / (feather + 1))
    np.testing.assert_allclose(m.alpha[m.band], expected[m.band], atol=1e-6)

    # Whatever the painter returns, known pixels outside the band survive bit for bit.
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    painted = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = composite(original, painted, m.alpha)
    keep = m.alpha == 0
    np.testing.assert_array_equal(out[keep], original[keep])
    np.testing.assert_array_equal(out[fill][:, :3], painted[fill])
    assert (out[~keep][:, 3] == 255).all()
    a = m.alpha[..., None].astype(np.float64)
    blend = original[..., :3] * (1 - a) + painted * a
    assert np.abs(out[..., :3] - blend).max() <= 0.5 + 1e-3


@st.composite
def outpainting_windows(draw):
    """Larger windows whose known part is a strip along one side, as when expanding."""
    h, w = draw(st.integers(8, 48)), draw(st.integers(8, 48))
    known = np.zeros((h, w), bool)
    depth = draw(st.integers(1, max(1, min(h, w) - 1)))
    side = draw(st.sampled_from([np.s_[:depth], np.s_[-depth:], np.s_[:, :depth], np.s_[:, -depth:]]))
    known[side] = True
    if draw(st.booleans()):
        known &= ~draw(masks(h, w))  # holes in the known strip
    fill = ~known
    if draw(st.booleans()):
        fill &= ~draw(masks(h, w))  # some void
    pad = draw(st.integers(0, 12))
    feather = draw(st.integers(0, pad))
    ring = draw(masks(h + 2, w + 2)) if draw(st.booleans()) else None
    return known, fill, pad, feather, ring


def whole_window_alpha(known, fill, pad, feather, ring):
    """The ramp computed over every pixel of the window, in window_masks' float32 steps."""
    d = np.minimum(brute_distance(fill), pad + 1)
    alpha = np.subtract(pad + 1, d, dtype=np.float32)
    alpha *= np.float32(1.0 / (feather + 1))
    np.clip(alpha, 0.0, 1.0, out=alpha)
    if ring is not None and feather > 0:
        _taper_at_border(alpha, ring, feather)
    alpha *= known & ~fill & (d <= pad)
    np.maximum(alpha, fill, out=alpha)
    return alpha


@settings(max_examples=200, deadline=None)
@given(st.one_of(outpainting_windows(), windows().map(lambda w: w[:5])))
def test_window_masks_equal_the_whole_window_computation(window):
    """Distances are computed only around the band: bit for bit the whole-window result."""
    known, fill, pad, feather, ring = window
    m = window_masks(known, fill, pad=pad, feather=feather, outside_known=ring)
    np.testing.assert_array_equal(m.band, known & ~fill & (brute_distance(fill) <= pad))
    np.testing.assert_array_equal(m.alpha, whole_window_alpha(known, fill, pad, feather, ring))


def test_ramp_values_and_hard_edge():
    known = np.zeros((4, 12), bool)
    known[:, :8] = True
    fill = ~known
    soft = window_masks(known, fill, pad=5, feather=3).alpha[0]
    np.testing.assert_allclose(soft, [0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1])
    hard = window_masks(known, fill, pad=5, feather=0).alpha[0]
    np.testing.assert_array_equal(hard, [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    none = window_masks(known, fill, pad=0, feather=0)
    assert not none.band.any()
    np.testing.assert_array_equal(none.alpha, fill.astype(np.float32))


def test_taper_towards_known_pixels_outside_the_window():
    # Known on the left, fill on the right; the window's top border continues into known
    # canvas, so the band fades out towards that border instead of ending in a line.
    known = np.zeros((20, 20), bool)
    known[:, :10] = True
    ring = np.zeros((22, 22), bool)
    ring[0, :] = True
    m = window_masks(known, ~known, pad=6, feather=4, outside_known=ring)
    plain = window_masks(known, ~known, pad=6, feather=4)
    column = 9  # the band pixel next to the fill
    np.testing.assert_allclose(m.alpha[:6, column], [0.2, 0.4, 0.6, 0.8, 1, 1])
    np.testing.assert_array_equal(m.alpha[5:], plain.alpha[5:])
    assert (m.alpha[:, 10:] == 1).all()  # fill untouched by the taper


def test_inpainting_fill_may_overlap_known():
    known = np.ones((16, 16), bool)
    fill = np.zeros((16, 16), bool)
    fill[6:10, 6:10] = True
    m = window_masks(known, fill, pad=2, feather=1)
    assert (m.alpha[fill] == 1).all()
    assert m.band.sum() == (brute_distance(fill)[~fill] <= 2).sum()
    np.testing.assert_array_equal(m.generate, fill | m.band)


def test_window_masks_rejects_bad_arguments():
    k = np.zeros((4, 4), bool)
    with pytest.raises(ValueError):
        window_masks(k, np.zeros((4, 5), bool), pad=2, feather=1)
    with pytest.raises(ValueError):
        window_masks(k, k.astype(np.uint8), pad=2, feather=1)
    with pytest.raises(ValueError):
        window_masks(k, k, pad=-1, feather=0)
    with pytest.raises(ValueError):
        window_masks(k, k, pad=2, feather=3)
    with pytest.raises(ValueError):
        window_masks(k, k, pad=2, feather=1, outside_known=np.zeros((4, 4), bool))
    assert isinstance(window_masks(k, k, pad=2, feather=1), WindowMasks)


def test_composite_in_place_and_into_a_buffer():
    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    painted = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    alpha = rng.choice(np.array([0, 0.3, 1], np.float32), (8, 9))
    expected = composite(original, painted, alpha)
    buffer = np.zeros_like(original)
    assert composite(original, painted, alpha, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)
    same = original.copy()
    composite(same, painted, alpha, out=same)
    np.testing.assert_array_equal(same, expected)
