"""The `boundless` command line as a user runs it: results, canvases, history, errors."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from canvas.cli import main
from canvas.store import Store
from tiler.rect import Rect

COMMANDS = ["expand", "inpaint", "zoomout", "grow", "video", "import", "history", "undo", "redo", "export", "models"]


def run(*args: str, check: int | None = 0) -> subprocess.CompletedProcess:
    """The real command in a child process, as a user would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "canvas", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    if check is not None:
        assert done.returncode == check, done.stderr
    return done


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_expand_down_makes_a_full_body_picture(tmp_path, photo_file, astronaut):
    out = tmp_path / "full.png"
    assert main(["expand", str(photo_file), "--down", "1024", "-o", str(out), "-q"]) == 0
    image = Image.open(out)
    assert image.size == (512, 1536)
    assert "patchmatch" in image.text["parameters"]
    pixels = np.asarray(image)
    assert (pixels[..., 3] == 255).all()
    assert np.array_equal(pixels[:448, :, :3], astronaut[:448])


def test_expand_all_sides(tmp_path, photo_file):
    out = tmp_path / "wider.png"
    assert main(["expand", str(photo_file), "--all", "256", "-o", str(out), "-q"]) == 0
    assert Image.open(out).size == (1024, 1024)


def test_inpaint_an_image_with_a_mask(tmp_path, photo_file, astronaut):
    mask = np.zeros((512, 512), np.uint8)
    mask[100:180, 200:300] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "fixed.png"
    assert main(["inpaint", str(photo_file), "--mask", str(tmp_path / "mask.png"), "-o", str(out), "-q"]) == 0
    fixed = np.asarray(Image.open(out))[..., :3]
    assert fixed.shape == astronaut.shape
    assert not np.array_equal(fixed[100:180, 200:300], astronaut[100:180, 200:300])
    assert np.array_equal(fixed[300:], astronaut[300:])


def test_a_canvas_keeps_the_work_and_history_undo_redo_export_move_across_jobs(tmp_path, photo_file, capsys):
    canvas = tmp_path / "work.canvas"
    assert main(["expand", str(photo_file), "--right", "512", "--canvas", str(canvas), "-q"]) == 0
    assert main(["expand", "--canvas", str(canvas), "--down", "512", "-q"]) == 0
    capsys.readouterr()
    assert main(["history", "--canvas", str(canvas)]) == 0
    listing = capsys.readouterr().out
    assert listing.count(" done ") == 3 and "import" in listing and "expand" in listing

    exported = tmp_path / "all.png"
    assert main(["export", "--canvas", str(canvas), "-o", str(exported)]) == 0
    assert Image.open(exported).size == (1024, 1024)
    assert main(["undo", "--canvas", str(canvas)]) == 0
    assert main(["export", "--canvas", str(canvas), "-o", str(exported)]) == 0
    assert Image.open(exported).size == (1024, 512)
    assert main(["redo", "--canvas", str(canvas)]) == 0
    assert main(["export", "--canvas", str(canvas), "--rect", "-10", "-10", "100", "50", "--level", "1", "-o", str(exported)]) == 0
    small = Image.open(exported)
    assert small.size == (100, 50) and "Level: 1" in small.text["parameters"]


def test_import_places_an_image_anywhere(tmp_path, photo_file):
    canvas = tmp_path / "c.canvas"
    assert main(["import", str(photo_file), "--canvas", str(canvas), "--at", "-300", "700"]) == 0
    with Store.open(canvas) as store:
        assert store.bounds(0) == Rect(-300, 700, 512, 512)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    assert "usage: boundless " + command in capsys.readouterr().out


def test_serve_refuses_an_unknown_painter_at_start_up_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--painter NAME" in capsys.readouterr().out
    done = run("serve", "--data", tmp_path / "data", "--port", "0", "--painter", "patchmatch", "--painter", "nope", check=2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown painter 'nope'" in lines[0] and "patchmatch" in lines[0], done.stderr
    assert "Boundless: open" not in done.stdout  # it stopped before serving


def test_bad_input_is_one_line_exit_2_and_leaves_the_canvas_unchanged(tmp_path, photo_file):
    canvas = tmp_path / "work.canvas"
    run("expand", photo_file, "--right", "64", "--canvas", canvas, "-q")
    before = digest(canvas)
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    wrong_mask = tmp_path / "mask.png"
    Image.fromarray(np.full((10, 20), 255, np.uint8)).save(wrong_mask)

    cases = [
        ("expand", text, "--down", "64", "-o", tmp_path / "o.png"),
        ("expand", text, "--down", "64", "--canvas", tmp_path / "new.canvas"),
        ("inpaint", photo_file, "--mask", wrong_mask, "-o", tmp_path / "o.png"),
        ("expand", "--canvas", canvas, "--down", "-64"),
        ("expand", "--canvas", canvas, "--down", "100000"),
        ("expand", "--canvas", canvas, "--window", "500", "--down", "64"),
        ("expand", "--canvas", canvas),
        ("expand", "--canvas", canvas, "--down", "ten"),
        ("inpaint", "--canvas", canvas, "--mask", text),
        ("export", "--canvas", text, "-o", tmp_path / "o.png"),
        ("expand", photo_file, "--down", "64", "-o", tmp_path / "o.jpg"),
        ("expand", photo_file, "--down", "64", "--canvas", canvas),
    ]
    for args in cases:
        done = run(*args, check=2)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (args, done.stderr)
        assert "error" in lines[0] and "Traceback" not in done.stderr
    assert digest(canvas) == before
    assert not (tmp_path / "new.canvas").exists() and not (tmp_path / "o.png").exists()


def test_kill_9_mid_job_keeps_whole_windows_and_undo_restores_the_picture(tmp_path, photo_file, astronaut):
    """The job's committed windows survive whole; nothing of the window being painted does."""
    canvas = tmp_path / "work.canvas"
    child = subprocess.Popen(
        [sys.executable, "-m", "canvas", "expand", str(photo_file), "--down", "2048", "--canvas", str(canvas)],
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in child.stderr:  # one line per committed window when stderr is not a terminal
        lines.append(line)
        if "1/" in line:
            time.sleep(0.3)  # land somewhere inside the second window
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert any("1/" in line for line in lines), lines

    done = run("history", "--canvas", canvas)
    assert "interrupted" in done.stdout
    with Store.open(canvas) as store:
        job = store.history()[-1]
        windows = [Rect(*r) for r in job.info["plan"]]
        picture = store.read(0, Rect(0, 0, 512, 2560))
    known_rows = picture[..., 3].all(axis=1)
    # Whole windows only: the known part is one solid block from the top, ending on a
    # window's lower edge (every window spans the full width here).
    height = int(known_rows.sum())
    assert known_rows[:height].all() and not known_rows[height:].any()
    assert height in {w.y1 for w in windows}
    assert height > 512

    run("undo", "--canvas", canvas)
    out = tmp_path / "back.png"
    run("export", "--canvas", canvas, "-o", out)
    assert np.array_equal(np.asarray(Image.open(out))[..., :3], astronaut)


def test_sampling_settings_left_out_are_the_painters_own(tmp_path, photo_file, monkeypatch):
    from canvas.painters import PAINTERS
    from serving import FillLikePainter

    painter = FillLikePainter()  # 50 steps at guidance 30, as FLUX.1 Fill
    monkeypatch.setitem(PAINTERS, "fill", lambda **options: painter)
    assert main(["expand", str(photo_file), "--right", "64", "--painter", "fill", "-o", str(tmp_path / "a.png"), "-q"]) == 0
    assert (painter.requests[-1].steps, painter.requests[-1].guidance, painter.requests[-1].strength) == (50, 30.0, 1.0)
    assert main(["expand", str(photo_file), "--right", "64", "--painter", "fill", "--steps", "12", "-o", str(tmp_path / "b.png"), "-q"]) == 0
    assert (painter.requests[-1].steps, painter.requests[-1].guidance) == (12, 30.0)
