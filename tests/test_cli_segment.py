"""`boundless inpaint --segment X,Y --segmenter MODEL` and `boundless serve --segmenter MODEL`
with a tiny random-weight SAM saved as transformers saves it: the mask is the model's
segment (grown), inpainted through the usual path; a missing or wrong model is one line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("transformers")

from canvas.cli import main  # noqa: E402
from canvas.segment import SegmentPrompt, grow, load_segmenter  # noqa: E402
from canvas.store import Store  # noqa: E402
from test_cli import run  # noqa: E402
from tiler.masks import distance_l1  # noqa: E402
from tiler.rect import Rect  # noqa: E402
from tiny_models import save_sam  # noqa: E402

PAD = 8  # --pad: known pixels farther from the mask than the band stay bit-exact (random SAM masks are scattered)


@pytest.fixture(scope="module")
def sam(tmp_path_factory):
    return save_sam(tmp_path_factory.mktemp("sam") / "tiny-sam")


def expected(sam, rgba: np.ndarray, points, labels, box, by: int) -> np.ndarray:
    h, w = rgba.shape[:2]
    found, _ = load_segmenter(str(sam), offline=True).segment("x", lambda: rgba, SegmentPrompt.of(points, labels, box, (w, h)))
    return grow(found, by)


def test_a_click_on_an_image_inpaints_its_segment_grown(sam, tmp_path, photo_file, astronaut, capsys):
    out = tmp_path / "fixed.png"
    assert main(["inpaint", str(photo_file), "--segment", "256,256", "--grow", "8", "--segmenter", str(sam),
                 "--pad", str(PAD), "--feather", str(PAD), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    mask = expected(sam, rgba, [(256, 256)], [1], None, 8)
    assert 0 < mask.mean() < 0.5 and f"segment: {int(mask.sum())} px of 512x512" in said and "grown by 8 px" in said
    fixed = np.asarray(Image.open(out))[..., :3]
    assert not np.array_equal(fixed[mask], astronaut[mask])  # repainted where the segment is
    far = distance_l1(mask) > PAD
    assert far.any() and np.array_equal(fixed[far], astronaut[far])  # untouched beyond the band


def test_clicks_and_a_box_on_a_canvas_are_in_its_coordinates(sam, tmp_path, photo_file, astronaut):
    canvas = tmp_path / "work.canvas"
    assert main(["import", str(photo_file), "--canvas", str(canvas), "--at", "-100", "50"]) == 0
    with Store.open(canvas) as store:
        before = store.read(0, Rect(-100, 50, 512, 512))
    args = ["inpaint", "--canvas", str(canvas), "--segment-box=-50,100,200,300", "--segment", "100,200",
            "--segment-out=-90,60", "--grow", "-2", "--segmenter", str(sam), "--pad", str(PAD), "--feather", str(PAD), "-q"]
    assert main(args) == 0
    # In the region's pixels: the canvas's (-100, 50) is its corner.
    mask = expected(sam, before, [(200, 150), (10, 10)], [1, 0], (50, 50, 300, 250), -2)
    with Store.open(canvas) as store:
        assert [rev.kind for rev in store.history()][-1] == "inpaint"
        after = store.read(0, Rect(-100, 50, 512, 512))
    far = distance_l1(mask) > PAD
    assert mask.any() and far.any()
    assert not np.array_equal(after[mask], before[mask]) and np.array_equal(after[far], before[far])


def test_missing_or_wrong_models_and_bad_clicks_are_one_line(sam, tmp_path, photo_file, capsys):
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    out = str(tmp_path / "o.png")
    base = ["inpaint", str(photo_file), "-o", out, "-q"]
    cases = [
        (["--segment", "10,10"], "--segment needs --segmenter"),
        (["--segment", "10,10", "--segmenter", str(tmp_path / "nowhere")], "no such folder"),
        (["--segment", "10,10", "--segmenter", str(tmp_path / "bert")], "a bert model, not Segment Anything"),
        (["--segment", "ten,10", "--segmenter", str(sam)], "--segment is 2 numbers X,Y"),
        (["--segment-box", "1,2,3", "--segmenter", str(sam)], "--segment-box is 4 numbers"),
        (["--segment", "600,10", "--segmenter", str(sam)], "outside the 512x512 region"),
        (["--segment", "10,10", "--grow", "999", "--segmenter", str(sam)], "--grow must be between"),
        (["--segment", "10,10", "--mask", str(photo_file), "--segmenter", str(sam)], "not both"),
        ([], "say what to repaint"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
    assert not (tmp_path / "o.png").exists()


def test_serve_loads_the_segmenter_at_start_up_or_says_in_one_line_why_not(sam, tmp_path, monkeypatch):
    done = run("serve", "--data", tmp_path / "data", "--port", "0", "--segmenter", tmp_path / "missing", check=2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no such folder" in lines[0] and "Boundless: open" not in done.stdout, done.stderr
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app))
    assert main(["serve", "--data", str(tmp_path / "data"), "--segmenter", str(sam)]) == 0
    segmenter = served["app"].state.server.segmenter
    assert segmenter is not None and segmenter.kind == "sam" and segmenter.name == str(sam)
