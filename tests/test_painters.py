"""The painter protocol and the PatchMatch painter, native and plain fallback."""

from __future__ import annotations

import numpy as np
import pytest

from canvas.painters import CancelToken, Cancelled, PaintRequest, create_painter
from canvas.painters.patchmatch import PatchMatchPainter


@pytest.fixture
def window(astronaut):
    image = astronaut.copy()
    mask = np.zeros(image.shape[:2], bool)
    mask[:, 320:] = True
    image[mask] = 0
    return image, mask


def paint(painter, image, mask, **request):
    steps = []
    result = painter.paint(image, mask, PaintRequest(**request), steps.append, CancelToken())
    return result, steps


def test_patchmatch_fills_the_mask_from_the_known_pixels(window, astronaut):
    image, mask = window
    [out], steps = paint(create_painter("patchmatch"), image, mask, seed=1)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], image[~mask])
    # Exemplar-based: the filled part has the photo's colours, not the black it started as.
    assert out[mask].mean() > 40
    assert abs(out[mask].mean() - astronaut[:, :320].mean()) < 40
    assert steps and steps[-1].step == steps[-1].steps


def test_candidates_differ_and_seeds_reproduce(window):
    image, mask = window
    painter = create_painter("patchmatch")
    first, second = paint(painter, image, mask, seed=5, candidates=2)[0]
    assert not np.array_equal(first, second)
    assert np.array_equal(first, paint(painter, image, mask, seed=5)[0][0])


def test_plain_fallback_when_the_native_library_is_missing(window, monkeypatch):
    image, mask = window
    painter = PatchMatchPainter()
    monkeypatch.setattr(painter, "native", False)
    [out], _ = paint(painter, image, mask, seed=2)
    assert np.array_equal(out[~mask], image[~mask])
    assert out[mask].std() > 1  # not a flat colour


def test_cancel_stops_before_painting(window):
    image, mask = window
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        create_painter("patchmatch").paint(image, mask, PaintRequest(), lambda p: None, cancel)


def test_unknown_painter_and_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown painter 'dalle'"):
        create_painter("dalle")
    with pytest.raises(ValueError, match="patch size"):
        create_painter("patchmatch", patch_size=0)


def test_patchmatch_leaves_the_void_alone_and_keeps_known_pixels(window, astronaut):
    image, mask = window
    void = np.zeros_like(mask)
    void[:, 448:] = True  # unknown, but nothing of it is committed: neither painted nor a source
    fill = mask & ~void
    image[void] = 0
    [out] = create_painter("patchmatch").paint(image, fill, PaintRequest(seed=3), lambda p: None, CancelToken(), void=void)
    assert np.array_equal(out[~fill], image[~fill])  # known pixels and the void, bit for bit
    assert abs(out[fill].mean() - astronaut[:, :320].mean()) < 40  # copied from the photo, not the black void


def test_patchmatch_rejects_a_void_that_overlaps_the_mask(window):
    image, mask = window
    with pytest.raises(ValueError, match="void"):
        create_painter("patchmatch").paint(image, mask, PaintRequest(), lambda p: None, CancelToken(), void=mask)

