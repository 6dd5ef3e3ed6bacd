"""Colour matching: a painter's colour cast is undone, and ten expansions do not drift."""

from __future__ import annotations

import numpy as np
import pytest

from tiler.colour import MIN_BAND_PIXELS, match_colour
from tiler.composite import composite
from tiler.masks import window_masks


def natural(h: int, w: int, seed: int = 0) -> np.ndarray:
    """An image with a natural 1/f spectrum and some colour, kept clear of 0 and 255."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    planes = []
    for _ in range(2):
        field = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((h, w))) / radius))
        planes.append((field - field.mean()) / field.std())
    luma, chroma = planes
    rgb = np.stack([120 + 25 * luma + 10 * chroma, 110 + 25 * luma, 90 + 25 * luma - 10 * chroma], axis=-1)
    return np.clip(rgb, 5, 220).astype(np.uint8)


def cast(image: np.ndarray) -> np.ndarray:
    """The painter's bias under test: 20% darker and 25 levels bluer."""
    out = image.astype(np.float64) * 0.8
    out[..., 2] += 25
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_colour_cast_is_corrected():
    original = natural(96, 128)
    band = np.zeros((96, 128), bool)
    band[:, 40:56] = True  # the repainted known strip
    fixed = match_colour(cast(original), original, band, apply_to=np.ones((96, 128), bool))
    error = np.abs(fixed.astype(int) - original)
    assert error.mean() < 1.0 and error.max() <= 3
    assert np.abs(cast(original).astype(int) - original).mean() > 15  # the cast was real


def test_identity_when_painted_equals_original():
    original = natural(64, 64, seed=1)
    band = np.zeros((64, 64), bool)
    band[20:40, 20:40] = True
    np.testing.assert_array_equal(match_colour(original, original, band, np.ones((64, 64), bool)), original)


def test_apply_to_limits_the_change_and_none_means_everywhere():
    original = natural(64, 64, seed=2)
    painted = cast(original)
    band = np.zeros((64, 64), bool)
    band[:, :16] = True
    apply_to = np.zeros((64, 64), bool)
    apply_to[:, :32] = True
    some = match_colour(painted, original, band, apply_to)
    np.testing.assert_array_equal(some[:, 32:], painted[:, 32:])
    assert not np.array_equal(some[:, :32], painted[:, :32])
    everywhere = match_colour(painted, original, band, None)
    np.testing.assert_array_equal(everywhere[:, :32], some[:, :32])
    assert not np.array_equal(everywhere[:, 32:], painted[:, 32:])


def test_small_band_is_left_alone_and_gains_are_clamped():
    original = natural(32, 32, seed=3)
    painted = cast(original)
    band = np.zeros((32, 32), bool)
    band.reshape(-1)[: MIN_BAND_PIXELS - 1] = True
    np.testing.assert_array_equal(match_colour(painted, original, band, None), painted)
    # A low-contrast painted band would ask for a gain near 15: it is clamped to 2.
    dull = np.full((32, 32, 3), 100, np.uint8)
    dull[::2, ::2] = 104
    band[:] = True
    assert np.ptp(match_colour(dull, original, band, None).astype(int), axis=(0, 1)).tolist() == [8, 8, 8]
    # A flat one has no contrast to compare: only the mean moves.
    flat = np.full((32, 32, 3), 100, np.uint8)
    out = match_colour(flat, original, band, None)
    np.testing.assert_array_equal(out, np.broadcast_to(np.rint(original.mean(axis=(0, 1))), out.shape))


@pytest.mark.parametrize("with_matching", [True, False])
def test_ten_expansions_in_a_row_do_not_drift(with_matching):
    # A canvas grows to the right by 32-px strips. Each window holds the last 32 known
    # columns and the next 32; the painter repaints the band faithfully, continues the
    # scene with the colour it sees in its input, and casts everything it paints.
    h, strip, pad, feather = 64, 32, 16, 12
    texture = natural(h, strip * 12, seed=4).astype(np.float64).reshape(h, 12, strip, 3)
    texture -= texture.mean(axis=(0, 2), keepdims=True)  # zero-mean detail for every strip
    texture = texture.reshape(h, 12 * strip, 3)
    canvas = np.zeros((h, strip * 11, 4), np.uint8)
    canvas[:, :strip, :3] = np.clip(np.rint([130, 120, 100] + texture[:, :strip]), 0, 255)
    canvas[:, :strip, 3] = 255

    known = np.zeros((h, 2 * strip), bool)
    known[:, :strip] = True
    masks = window_masks(known, ~known, pad=pad, feather=feather)
    means = []
    for step in range(1, 11):
        x0 = (step - 1) * strip
        window = canvas[:, x0 : x0 + 2 * strip]
        scene = window[..., :3].astype(np.float64)
        seen = scene[:, :strip].mean(axis=(0, 1))
        scene[:, strip:] = seen + texture[:, (step + 1) * strip : (step + 2) * strip]
        painted = cast(np.clip(np.rint(scene), 0, 255).astype(np.uint8))
        if with_matching:
            painted = match_colour(painted, window[..., :3], masks.band, None)
        canvas[:, x0 : x0 + 2 * strip] = composite(window, painted, masks.alpha)
        means.append(canvas[:, x0 + strip : x0 + 2 * strip, :3].mean(axis=(0, 1)))
    drift = np.abs(means[-1] - means[0]).max()
    print(f"drift {drift:.2f} levels with_matching={with_matching}")
    if with_matching:
        assert drift < 3
    else:
        assert drift > 20  # the test has teeth: without matching the cast compounds
