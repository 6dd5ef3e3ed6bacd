"""The canvas store on disk: reopening, bad files, import, PNG export, kill -9 safety."""

from __future__ import annotations

import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from canvas.store import Store, StoreError
from canvas.store.images import parameters_text
from canvas.store.pixels import downsample2
from tiler.rect import Rect

ROOT = Path(__file__).resolve().parents[1]


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    rgba = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    return rgba


# -- reopening -----------------------------------------------------------------------------


def test_canvas_persists_across_reopen(tmp_path):
    path = tmp_path / "garden.canvas"
    rect = Rect(-300, 100, 700, 300)
    with Store.open(path) as store:
        first = store.begin_revision("import", {"source": "photo.png"})
        store.commit(first, 0, rect, noise(rect.h, rect.w))
        store.finish_revision(first, windows=1)
        second = store.begin_revision("zoom", {"factor": 2})
        store.commit(second, 2, Rect(-200, 0, 300, 200), noise(200, 300, seed=1))
        store.finish_revision(second)
        store.undo()
        views = [store.read(level, Rect(-900, -100, 1500, 800).to_level(0, level)) for level in range(5)]
        history, bounds, top = store.history(), store.bounds(), store.top_level

    with Store.open(path, create=False) as store:
        assert store.head == first
        assert store.history() == history
        assert store.bounds() == bounds and store.top_level == top
        for level in range(5):
            area = Rect(-900, -100, 1500, 800).to_level(0, level)
            assert np.array_equal(store.read(level, area), views[level])
        assert store.redo().id == second
        assert store.read(0, Rect(-800, 0, 1, 1))[0, 0, 3] == 255  # the level-2 content is back


def test_a_canvas_keeps_its_identity_and_a_new_file_gets_another(tmp_path):
    path = tmp_path / "garden.canvas"
    with Store.open(path) as store:
        identity = store.identity
    with Store.open(path, create=False) as store:
        assert store.identity == identity
    path.unlink()
    with Store.open(path) as store:  # made again under the same name: another canvas
        assert store.identity != identity


def test_running_revision_becomes_interrupted_on_reopen(tmp_path):
    path = tmp_path / "c.canvas"
    with Store.open(path) as store:
        done = store.begin_revision("import", {})
        store.commit(done, 0, Rect(0, 0, 64, 64), noise(64, 64))
        store.finish_revision(done)
        killed = store.begin_revision("outpaint", {})
        store.commit(killed, 0, Rect(64, 0, 64, 64), noise(64, 64, seed=1))
        # no finish: the process "dies" here
    with Store.open(path) as store:
        assert [r.status for r in store.history()] == ["done", "interrupted"]
        assert store.head == killed
        assert np.array_equal(store.read(0, Rect(64, 0, 64, 64)), noise(64, 64, seed=1))  # window kept
        assert store.undo().id == killed
        assert store.bounds() == Rect(0, 0, 64, 64)
        assert store.redo().id == killed


def test_a_second_opener_does_not_interrupt_a_live_job(tmp_path):
    path = tmp_path / "c.canvas"
    with Store.open(path) as server:
        rev = server.begin_revision("outpaint", {})
        with Store.open(path, create=False) as cli:
            assert cli.history()[0].status == "running"
        server.commit(rev, 0, Rect(0, 0, 8, 8), noise(8, 8))
        server.finish_revision(rev)


def test_missing_file_without_create(tmp_path):
    with pytest.raises(StoreError, match="no canvas"):
        Store.open(tmp_path / "missing.canvas", create=False)
    assert not (tmp_path / "missing.canvas").exists()


def test_files_that_are_not_canvases(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("shopping list: eggs, flour, milk\n" * 20)
    with pytest.raises(StoreError, match="not a Boundless canvas"):
        Store.open(text)
    assert text.read_text().startswith("shopping list")

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(StoreError, match="not a Boundless canvas"):
        Store.open(other)

    with pytest.raises(StoreError, match="directory"):
        Store.open(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.canvas"
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


# -- import and export ---------------------------------------------------------------------


def test_import_rgb_and_rgba(tmp_path):
    with Store.open(":memory:") as store:
        rgb = noise(300, 500)[..., :3]
        first = store.import_image(rgb, -250, -150, params={"source": "beach.jpg"})
        assert np.array_equal(store.read(0, Rect(-250, -150, 500, 300))[..., :3], rgb)
        rgba = noise(100, 100, seed=1)
        rgba[..., 3] = np.where(np.arange(100) < 50, 40, 200)[None, :]  # left half below 128
        second = store.import_image(rgba, -50, -50)
        out = store.read(0, Rect(-50, -50, 100, 100))
        under = np.dstack([rgb[100:200, 200:250], np.full((100, 50), 255, np.uint8)])
        assert np.array_equal(out[:, :50], under)  # below 128: unknown, the canvas shows through
        assert np.array_equal(out[:, 50:, :3], rgba[:, 50:, :3]) and (out[:, 50:, 3] == 255).all()
        history = store.history()
        assert [(r.id, r.kind, r.status) for r in history] == [
            (first, "import", "done"),
            (second, "import", "done"),
        ]
        assert history[0].params == {"source": "beach.jpg"}
        assert history[0].info["width"] == 500
        big = store.import_image(noise(2500, 2100, seed=2), 1000, 1000, level=1)  # several blocks
        assert np.array_equal(store.read(1, Rect(1000, 1000, 2100, 2500)), noise(2500, 2100, seed=2))
        assert store.history()[-1].id == big


def test_export_png_has_parameters_and_transparency(tmp_path):
    with Store.open(":memory:") as store:
        store.import_image(noise(64, 64), 0, 0)
        rev = store.begin_revision(
            "outpaint",
            {
                "prompt": "a lighthouse at dusk",
                "negative_prompt": "blurry",
                "painter": "diffusion",
                "seed": 7,
                "window": 512,
                "cfg_scale": 7.5,
            },
        )
        store.commit(rev, 0, Rect(64, 0, 64, 64), noise(64, 64, seed=1))
        store.finish_revision(rev)

        out = io.BytesIO()
        store.export_png(0, Rect(0, 0, 192, 64), out)
        image = Image.open(io.BytesIO(out.getvalue()))
        assert image.mode == "RGBA" and image.size == (192, 64)
        lines = image.text["parameters"].split("\n")
        assert lines[0] == "a lighthouse at dusk"
        assert lines[1] == "Negative prompt: blurry"
        # A1111's keys first, in its order (Size is the exported image's), then ours
        assert lines[2].startswith("CFG scale: 7.5, Seed: 7, Size: 192x64, Painter: diffusion, Window: 512")
        assert lines[2].endswith(f"Boundless revision: {rev}, Level: 0")
        pixels = np.asarray(image)
        assert np.array_equal(pixels[:, 64:128], noise(64, 64, seed=1))
        assert (pixels[:, 128:, 3] == 0).all()

        # a crop only the import touched names the import; paths work too
        store.export_png(1, Rect(0, 0, 16, 16), tmp_path / "crop.png")
        with Image.open(tmp_path / "crop.png") as crop:
            assert crop.text["parameters"] == "Size: 16x16, Boundless revision: 1, Level: 1"


def test_parameters_use_a1111s_keys_order_and_spelling():
    params = {
        "prompt": "a harbour, at dawn <lora:film grain:0.5>",
        "negative_prompt": "blurry",
        "target": "expand left 64, down 256",
        "seed": 5,
        "steps": 20,
        "guidance": 7.0,
        "strength": 0.75,
        "painter": "diffusion",
        "model": "/models/Stable-diffusion/sd15/dreamy-v2.1.safetensors",
        "model_hash": "6ce0161689",
        "model_kind": "sd-inpainting",
        "vae": "/models/VAE/sd-vae-ft-mse",
        "scheduler": "DPM++ 2M Karras",
        "loras": [{"name": "film grain", "weight": 0.5, "hash": "a1b2c3d4e5f6"}, {"name": "ink:v2", "weight": 1.0, "hash": "0f0f0f0f0f0f"}],
        "controlnet_scale": 0.6,
        "window": 512,
        "pad": 64,
        "feather": 48,
        "colour_match": True,
    }
    assert parameters_text(params, 9, 0, (768, 512)).split("\n") == [
        "a harbour, at dawn <lora:film grain:0.5>",
        "Negative prompt: blurry",
        "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 5, Size: 768x512, Model hash: 6ce0161689, "
        "Model: dreamy-v2.1, VAE: sd-vae-ft-mse, Denoising strength: 0.75, Mask blur: 48, "
        'Lora hashes: "film grain: a1b2c3d4e5f6, inkv2: 0f0f0f0f0f0f", '
        'Target: "expand left 64, down 256", Painter: diffusion, Model kind: sd-inpainting, ControlNet scale: 0.6, '
        "Window: 512, Pad: 64, Colour match: True, Boundless revision: 9, Level: 0",
    ]
    # a painter that does not sample writes only what applies; a folder has no hash; a hub id is named by its last part
    assert parameters_text({"seed": 3, "painter": "patchmatch", "patch_size": 7}, 2, 1, (64, 32)) == (
        "Seed: 3, Size: 64x32, Painter: patchmatch, Patch size: 7, Boundless revision: 2, Level: 1")
    assert "Model: sd-inpaint, Boundless" in parameters_text({"model": "C:\\models\\sd-inpaint\\"}, 1, 0, (8, 8))
    assert "Model: stable-diffusion-2-inpainting," in parameters_text({"model": "stabilityai/stable-diffusion-2-inpainting"}, 1, 0, (8, 8))
    # the history's own record of a job's LoRAs, {name as tagged: hash} (canvas/library/records.py)
    assert 'Lora hashes: "film grain: a1b2c3d4e5f6, inkv2: 0f0f0f0f0f0f", Boundless' in parameters_text(
        {"loras": {"film grain": "a1b2c3d4e5f6", "ink:v2": "0f0f0f0f0f0f"}}, 1, 0, (8, 8))
    # the embeddings a job's prompts named, {name: hash}, right after the LoRAs, as A1111 writes "TI hashes"
    assert ('Lora hashes: "film grain: a1b2c3d4e5f6", TI hashes: "EasyNegative: c74b4e810b03, badhands: 0123456789ab", '
            "Boundless") in parameters_text({"embeddings": {"EasyNegative": "c74b4e810b03", "bad,hands": "0123456789ab"},
                                              "loras": {"film grain": "a1b2c3d4e5f6"}}, 1, 0, (8, 8))
    # a LoRA without a hash is not listed (its tag is in the prompt); a record of another shape exports all the same
    for loras in ([{"name": "x", "weight": 1.0}], "x", [None]):
        assert parameters_text({"loras": loras}, 1, 0, (8, 8)) == "Size: 8x8, Boundless revision: 1, Level: 0"


# -- kill -9 -------------------------------------------------------------------------------

WINDOWS = """
def windows(seed, count=5000):
    rng = np.random.default_rng(seed)
    for i in range(count):
        x, y = (int(v) * 16 for v in rng.integers(-48, 32, 2))
        colour = np.array([i % 256, i // 256 % 256, 99, 255], np.uint8)
        yield Rect(x, y, 256, 256), colour
"""

CHILD = f"""
import sys
import numpy as np
from canvas.store import Store
from tiler.rect import Rect
{WINDOWS}
store = Store.open(sys.argv[1])
rev = store.begin_revision("outpaint", {{}})
for i, (rect, colour) in enumerate(windows(int(sys.argv[2]))):
    store.commit(rev, 0, rect, np.broadcast_to(colour, (rect.h, rect.w, 4)))
    print(i, flush=True)
"""

namespace: dict = {"np": np, "Rect": Rect}
exec(WINDOWS, namespace)
windows = namespace["windows"]
AREA = Rect(-768, -768, 1536, 1536)  # holds every window


def painted(seed: int, count: int) -> np.ndarray:
    canvas = np.zeros((AREA.h, AREA.w, 4), np.uint8)
    for _, (rect, colour) in zip(range(count), windows(seed)):
        canvas[rect.relative_to(AREA).slices] = colour
    return canvas


@pytest.mark.parametrize("trial", range(3))
def test_kill_9_never_leaves_half_a_window(tmp_path, trial):
    path, seed = tmp_path / "killed.canvas", 1000 + trial
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(seed)], stdout=subprocess.PIPE, env=env, cwd=ROOT
    )
    assert child.stdout.readline(), "the child died before its first commit"
    time.sleep(random.Random(seed).uniform(0.05, 0.8))
    child.send_signal(signal.SIGKILL)
    rest = child.stdout.read().split()
    child.wait()
    reported = 1 + len(rest)  # windows whose commit returned before the kill

    with Store.open(path, create=False) as store:
        assert store.history()[0].status == "interrupted"
        got = store.read(0, AREA)
        # every reported window is whole; the one in flight is all there or not at all
        matches = [k for k in (reported, reported + 1) if np.array_equal(got, painted(seed, k))]
        assert matches, f"canvas after {reported} windows matches no whole-window state"
        expected = painted(seed, matches[0])
        for level in (1, 2):  # and the pyramid was written in the same transactions
            expected = downsample2(expected)
            assert np.array_equal(store.read(level, AREA.to_level(0, level)), expected)
