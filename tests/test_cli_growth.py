"""`boundless zoomout`, `grow` and `video` as a user runs them."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from canvas.cli import main
from canvas.store import Store
from tiler.rect import Rect


def test_zoomout_then_a_video_of_it(tmp_path, photo_file, astronaut, capsys):
    canvas = tmp_path / "zoom.canvas"
    assert main(["zoomout", str(photo_file), "--steps", "1", "--canvas", str(canvas), "--at-step", "1:far away", "-q"]) == 0
    with Store.open(canvas, create=False) as store:
        assert set(store.authored_bounds()) == {0, 1}
        assert np.array_equal(store.read(0, Rect(0, 0, 512, 512))[..., :3], astronaut)
        revision = store.history()[-1]
        assert revision.kind == "zoomout" and revision.params["schedule"] == {"1": "far away"}
    out = tmp_path / "zoom.mp4"
    assert main(["video", "--canvas", str(canvas), "-o", str(out), "--size", "128x96", "--seconds", "1", "--fps", "12",
                 "--hold", "0.1", "-q"]) == 0
    with av.open(str(out)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (96, 128, 3)
    assert "12 frames of 128x96, 2 levels" in capsys.readouterr().out


def test_grow_to_an_aspect_ratio_in_one_job(tmp_path, photo_file, astronaut):
    out, canvas = tmp_path / "wide.png", tmp_path / "wide.canvas"
    assert main(["grow", str(photo_file), "--aspect", "5:4", "--anchor", "left", "-o", str(out), "--canvas", str(canvas), "-q"]) == 0
    with Image.open(out) as image:
        assert image.size == (640, 512)
        assert np.array_equal(np.asarray(image.convert("RGB"))[:, :512], astronaut)  # PatchMatch keeps it exactly
    with Store.open(canvas, create=False) as store:
        assert [r.kind for r in store.history()] == ["import", "grow"]


@pytest.mark.parametrize("argv, message", [
    (["zoomout", "IMG", "--factor", "9", "-o", "OUT"], "zoom factor"),
    (["zoomout", "IMG", "--steps", "0", "-o", "OUT"], "steps"),
    (["zoomout", "IMG", "--at-step", "village", "-o", "OUT"], "STEP:PROMPT"),
    (["grow", "IMG", "--to", "100x", "-o", "OUT"], "--to"),
    (["grow", "IMG", "--to", "256x256", "-o", "OUT"], "only grow"),
    (["grow", "IMG", "--aspect", "1:1", "-o", "OUT"], "nothing to grow"),
    (["video", "--canvas", "CANVAS", "-o", "OUT.avi"], ".mp4"),
    (["video", "--canvas", "CANVAS", "-o", "OUT.mp4", "--size", "101x100"], "even"),
])
def test_bad_requests_are_one_line_and_write_nothing(tmp_path, photo_file, capsys, argv, message):
    with Store.open(tmp_path / "c.canvas") as store:
        store.import_image(np.zeros((64, 64, 3), np.uint8), 0, 0)
    argv = [str(photo_file) if a == "IMG" else str(tmp_path / "out.png") if a == "OUT" else a for a in argv]
    argv = [str(tmp_path / "c.canvas") if a == "CANVAS" else str(tmp_path / a) if a.startswith("OUT.") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("boundless: error:") and message in err and err.count("\n") == 1
    assert not [p.name for p in tmp_path.iterdir() if p.name.lower().lstrip(".").startswith("out")]  # nothing written
