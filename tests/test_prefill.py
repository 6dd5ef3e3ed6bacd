"""Prefill: every mode leaves known pixels alone; "edge" extends colours smoothly."""

from __future__ import annotations

import numpy as np
import pytest

from tiler import prefill as prefill_module
from tiler.prefill import PREFILL_MODES, prefill


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([150, 100, 60], np.float32)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def half_unknown(h: int, w: int) -> np.ndarray:
    unknown = np.zeros((h, w), bool)
    unknown[:, w // 2 :] = True
    return unknown


@pytest.mark.parametrize("mode", PREFILL_MODES)
@pytest.mark.parametrize("shape", [(64, 64), (37, 53), (1, 5), (2, 1)])
def test_known_pixels_untouched_and_input_unchanged(mode, shape):
    h, w = shape
    image = textured(h, w)
    before = image.copy()
    unknown = np.random.default_rng(1).random((h, w)) < 0.5
    unknown[0, 0] = False
    out = prefill(image, unknown, mode, seed=3)
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out[~unknown], image[~unknown])
    np.testing.assert_array_equal(image, before)


def test_edge_continues_a_flat_colour_exactly():
    image = np.zeros((48, 80, 3), np.uint8)
    image[:, :40] = (10, 200, 77)
    out = prefill(image, half_unknown(48, 80), "edge")
    assert (out == np.array([10, 200, 77], np.uint8)).all()


def test_edge_blur_grows_with_distance():
    # Known left half: 32-pixel horizontal stripes of black and white.
    image = np.zeros((256, 512, 3), np.uint8)
    image[(np.arange(256) // 32) % 2 == 1, :256] = 255
    out = prefill(image, half_unknown(256, 512), "edge").astype(np.float64)
    contrast = [out[:, 256 + d, 0].std() for d in (0, 2, 8, 16, 32, 200)]
    assert contrast[0] > 110  # next to the known the stripes carry on
    assert all(a > b for a, b in zip(contrast[:-2], contrast[1:-1]))
    assert contrast[-2] < 5 and contrast[-1] < 1  # further than a stripe pair: the average
    assert abs(out[:, -1, 0].mean() - 127.5) < 2
    # No jumps between neighbouring unknown pixels along a row.
    assert np.abs(np.diff(out[:, 256:, 0], axis=1)).max() < 64


def test_mean_and_noise_modes():
    image = textured(64, 64)
    unknown = half_unknown(64, 64)
    known_pixels = image[~unknown].astype(np.float64)
    mean = prefill(image, unknown, "mean")
    np.testing.assert_array_equal(mean[unknown], np.tile(np.rint(known_pixels.mean(axis=0)), (unknown.sum(), 1)))

    noise = prefill(image, unknown, "noise", seed=5)
    np.testing.assert_array_equal(noise, prefill(image, unknown, "noise", seed=5))
    assert not np.array_equal(noise, prefill(image, unknown, "noise", seed=6))
    filled = noise[unknown].astype(np.float64)
    np.testing.assert_allclose(filled.mean(axis=0), known_pixels.mean(axis=0), atol=1.5)
    np.testing.assert_allclose(filled.std(axis=0), known_pixels.std(axis=0), rtol=0.1)


@pytest.mark.parametrize("mode", PREFILL_MODES)
def test_nothing_known_gives_grey(mode):
    image = np.zeros((32, 32, 3), np.uint8)
    out = prefill(image, np.ones((32, 32), bool), mode, seed=1)
    if mode == "noise":
        assert abs(out.mean() - 128) < 3 and out.std() > 10
    else:
        assert (out == 128).all()


def test_nothing_unknown_is_a_copy():
    image = textured(8, 8)
    out = prefill(image, np.zeros((8, 8), bool), "edge")
    assert out is not image
    np.testing.assert_array_equal(out, image)


@pytest.mark.skipif(not prefill_module.patchmatch_available(), reason="pypatchmatch native library missing")
def test_patchmatch_fills_from_the_known_texture_and_is_seeded():
    image = np.zeros((48, 48, 3), np.uint8)
    image[:, :24] = (255, 0, 0)
    image[::2, :24] = (0, 0, 255)
    unknown = half_unknown(48, 48)
    out = prefill(image, unknown, "patchmatch", seed=7)
    np.testing.assert_array_equal(out, prefill(image, unknown, "patchmatch", seed=7))
    colours = {tuple(c) for c in out[unknown]}
    assert colours <= {(255, 0, 0), (0, 0, 255)}  # copied patches, not blurred edges


def test_patchmatch_falls_back_to_edge(monkeypatch):
    monkeypatch.setattr(prefill_module, "patchmatch_available", lambda: False)
    image = textured(40, 40)
    unknown = half_unknown(40, 40)
    np.testing.assert_array_equal(prefill(image, unknown, "patchmatch"), prefill(image, unknown, "edge"))


def test_bad_arguments():
    image = textured(4, 4)
    with pytest.raises(ValueError):
        prefill(image, np.zeros((4, 4), bool), "blur")
    with pytest.raises(ValueError):
        prefill(image, np.zeros((4, 5), bool))
    with pytest.raises(ValueError):
        prefill(image.astype(np.float32), np.zeros((4, 4), bool))
