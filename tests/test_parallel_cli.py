"""The command line's jobs on several painter processes: `--painters N` paints the same
picture as one painter, and a wrong count or a missing Ray is one line."""

from __future__ import annotations

import numpy as np
from PIL import Image
from pictures import photo

from canvas.cli import main


def test_expand_on_two_painter_processes_writes_the_picture_one_painter_writes(tmp_path, capsys):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.hstack([photo("astronaut"), photo("astronaut")[:, ::-1]])).save(wide)
    outputs = []
    for painters in ("1", "2"):
        out = tmp_path / f"out-{painters}.png"
        canvas = tmp_path / f"work-{painters}.canvas"
        assert main(["expand", str(wide), "--left", "64", "--right", "64", "--seed", "4", "--painters", painters,
                     "-q", "-o", str(out), "--canvas", str(canvas)]) == 0
        outputs.append(np.asarray(Image.open(out)))
    assert outputs[0].shape[:2] == (512, 1152) and np.array_equal(*outputs)
    assert "2 windows" in capsys.readouterr().out


def test_a_wrong_painter_count_or_a_missing_ray_is_one_line(tmp_path, photo_file, capsys):
    out = str(tmp_path / "out.png")
    assert main(["expand", str(photo_file), "--right", "64", "--painters", "0", "-o", out]) == 2
    assert "--painters must be between 1 and 64" in capsys.readouterr().err
    try:
        import ray  # noqa: F401
        from canvas.jobs import ray_pool  # noqa: F401
    except ImportError:
        assert main(["expand", str(photo_file), "--right", "64", "--ray", "auto", "-o", out]) == 2
        assert capsys.readouterr().err.startswith("boundless: error: --ray needs Ray")
    assert not (tmp_path / "out.png").exists()
