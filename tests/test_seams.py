"""The seam metric: high across a hard edge, about 1 across an invisible split."""

from __future__ import annotations

import math

import numpy as np

from tiler.composite import composite
from tiler.masks import window_masks
from tiler.rect import Rect
from tiler.seams import seam_ratio, window_seam_ratio


def natural(h: int, w: int, seed: int = 0) -> np.ndarray:
    """An image with a natural 1/f spectrum, as continuous as a photograph."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((h, w, 3)), axes=(0, 1)) / radius[..., None], axes=(0, 1)))
    field = (field - field.mean()) / field.std()
    return np.clip(128 + 30 * field, 0, 255).astype(np.uint8)


def blob(h: int, w: int, seed: int) -> np.ndarray:
    """An arbitrary region with a long ragged border: thresholded smooth noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 16 + 2, w // 16 + 2))
    smooth = np.kron(coarse, np.ones((16, 16)))[:h, :w]
    return smooth > 0.5


def test_hard_step_between_two_textures_is_a_seam():
    rng = np.random.default_rng(0)
    image = rng.normal(80, 8, (64, 96, 3))
    image[:, 48:] = rng.normal(170, 8, (64, 48, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    side = np.zeros((64, 96), bool)
    side[:, 48:] = True
    assert seam_ratio(image, side, reference=~side) > 5


def test_continuous_image_split_anywhere_has_no_seam():
    image = natural(128, 160)
    everything = np.ones((128, 160), bool)
    for seed in range(3):
        ratio = seam_ratio(image, blob(128, 160, seed), reference=everything)
        assert 0.85 < ratio < 1.15, ratio


def test_empty_sets_give_nan_and_flat_reference_is_handled():
    image = natural(16, 16)
    nothing = np.zeros((16, 16), bool)
    assert math.isnan(seam_ratio(image, nothing, reference=~nothing))  # no pair crosses
    side = nothing.copy()
    side[:, 8:] = True
    assert math.isnan(seam_ratio(image, side, reference=nothing))  # no reference pair
    flat = np.full((16, 16, 3), 7, np.uint8)
    assert seam_ratio(flat, side, reference=~side) == 1.0
    flat[:, 8:] = 9
    assert seam_ratio(flat, side, reference=~side) == math.inf


def test_valid_restricts_pairs_and_window_helper_clips():
    image = natural(32, 32)
    image[:, 16:] = 255 - image[:, 16:]  # a seam down the middle
    side = np.zeros((32, 32), bool)
    side[:, 16:] = True
    valid = np.ones((32, 32), bool)
    valid[:, 15:17] = False  # hides every pair across it
    assert math.isnan(seam_ratio(image, side, reference=~side, valid=valid))
    # A window hanging off the top-left corner: only its in-image part counts.
    inside = window_seam_ratio(image, Rect(-10, -10, 26, 42), reference=~side)
    assert inside == seam_ratio(image, ~side, reference=~side) > 2


def test_feathered_composite_hides_a_colour_offset_better_than_a_hard_edge():
    # A painter that reproduces the scene but 40 levels too bright: a hard composite
    # shows a step, the feathered band spreads it into an invisible ramp.
    image = natural(96, 128, seed=5)
    known = np.zeros((96, 128), bool)
    known[:, :64] = True
    original = np.dstack([image, np.full((96, 128), 255, np.uint8)])
    painted = np.clip(image.astype(int) + 40, 0, 255).astype(np.uint8)
    ratios = {}
    for feather in (0, 24):
        alpha = window_masks(known, ~known, pad=32, feather=feather).alpha
        out = composite(original, painted, alpha)[..., :3]
        ratios[feather] = seam_ratio(out, alpha > 0, reference=alpha == 0)
    assert ratios[0] > 2 and ratios[24] < 1.3
