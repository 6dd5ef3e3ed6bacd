"""No visible seams on real photographs: the seam metric on every window's border.

The metric (tiler.seams) compares the mean gradient across a seam with the mean gradient
inside the photo's own content; a visible line scores well above 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from pictures import photo

from canvas.jobs import Expand, JobSpec, TilerSettings, run_job
from canvas.painters import create_painter
from tiler.rect import Rect
from tiler.seams import painted_seam_ratios

SEAM_LIMIT = 1.5


def window_seams(store, result, original: Rect) -> list[float]:
    area = store.bounds(0)
    known = np.zeros((area.h, area.w), bool)
    known[original.relative_to(area).slices] = True
    image = store.read(0, area)[..., :3]
    return painted_seam_ratios(image, area, known, [w.rect for w in result.windows])


@pytest.mark.parametrize(
    "name, grow",
    [
        ("astronaut", Expand(down=1024)),  # headshot to full body
        ("coffee", Expand(right=384, up=128)),
        ("rocket", Expand(left=200, down=200)),
        # The photo's left edge is pale background beside fur: a plain fill ran the fur
        # right up to it, a hard vertical line (PatchMatch's seam pass mends it).
        ("chelsea", Expand(left=256, right=256)),
    ],
)
def test_no_window_border_is_a_visible_seam(store, name, grow):
    picture = photo(name, None)
    store.import_image(picture, 0, 0)
    settings = TilerSettings()
    result = run_job(store, create_painter("patchmatch"), JobSpec(grow, tiler=settings))
    original = Rect(0, 0, picture.shape[1], picture.shape[0])
    ratios = window_seams(store, result, original)
    assert len(ratios) == len(result.windows) >= 1
    assert max(ratios) <= SEAM_LIMIT, ratios


def test_the_metric_sees_a_seam_when_there_is_one(store):
    """Without the band and the colour match, a painter with a cast leaves a line."""
    from pictures import CastPainter

    picture = photo("astronaut")
    store.import_image(picture, 0, 0)
    settings = TilerSettings(pad=0, feather=0, colour_match=False)
    result = run_job(store, CastPainter(shift=(60, -40, 60), gain=1.0), JobSpec(Expand(down=256), tiler=settings))
    ratios = window_seams(store, result, Rect(0, 0, 512, 512))
    assert max(ratios) > 2 * SEAM_LIMIT, ratios
