"""Painters as Ray actors (canvas/jobs/ray_pool.py) on a local Ray started here, once for
the module: the same pixels as in-process painters for the same window, PatchMatch and a
tiny diffusion pipeline; progress and previews come back; cancel reaches the actor; an
actor killed mid-window (by Ray or by SIGKILL) has its window painted again on a new one."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from canvas.jobs.pool import ThreadPool, WindowTask  # noqa: E402
from canvas.jobs.ray_pool import RayPool  # noqa: E402
from canvas.jobs.spec import TilerSettings  # noqa: E402
from canvas.jobs.window import WindowPixels  # noqa: E402
from canvas.painters import CancelToken, Cancelled, PaintRequest, create_painter  # noqa: E402
from pictures import photo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"steps": 2, "guidance": 1.0}


@pytest.fixture(scope="module")
def local_ray():
    """A Ray on this machine (eight logical CPUs: room for every actor
    the tests below start), in a short temporary folder (Ray's socket paths
    must stay under 107 bytes), shut down after the module."""
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    saved = os.environ.get("PYTHONPATH")
    # Workers import this worktree's canvas, not whatever the venv has installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), saved) if p)
    # Actors with a models library keep its scan cache here, not in the user's cache.
    cache = os.environ.get("BOUNDLESS_CACHE_DIR")
    os.environ["BOUNDLESS_CACHE_DIR"] = os.path.join(folder, "cache")
    try:
        ray.init(num_cpus=8, include_dashboard=False, _temp_dir=folder, log_to_driver=False)
        yield ray
    finally:
        ray.shutdown()
        for name, value in (("PYTHONPATH", saved), ("BOUNDLESS_CACHE_DIR", cache)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def patchmatch_pool(local_ray):
    with RayPool("patchmatch", {}, size=2, address="auto") as pool:
        yield pool


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tiny_models import TinyModels

    return TinyModels.shared(tmp_path_factory)


@pytest.fixture(scope="module")
def diffusion_pool(local_ray, models):
    options = {"model": str(models.folder("sd-inpaint")), "dtype": "fp32", "offline": True}
    with RayPool("diffusion", options, size=1, address="auto") as pool:
        yield pool


def window(size: int = 512, known_columns: int | None = None) -> WindowPixels:
    """The left part of a photo known, the rest to paint."""
    rgba = np.zeros((size, size, 4), np.uint8)
    cut = size // 2 if known_columns is None else known_columns
    rgba[:, :cut, :3] = photo("astronaut", size)[:, :cut]
    rgba[:, :cut, 3] = 255
    known = rgba[..., 3] == 255
    return WindowPixels(rgba=rgba, known=known, fill=~known, outside_known=np.pad(known, 1))


def task(pixels: WindowPixels, seen: list | None = None, cancel: CancelToken | None = None, **request) -> WindowTask:
    return WindowTask(pixels, PaintRequest(**request), TilerSettings(), (seen if seen is not None else []).append,
                      cancel or CancelToken())


def same(a, b) -> bool:
    return len(a.candidates) == len(b.candidates) and np.array_equal(a.changed, b.changed) and all(
        np.array_equal(x, y) for x, y in zip(a.candidates, b.candidates))


def test_patchmatch_actors_paint_the_pixels_an_in_process_painter_paints(patchmatch_pool):
    windows = [window(256), window(256, known_columns=160)]
    with ThreadPool([create_painter("patchmatch")]) as local:
        expected = [local.submit(task(w, seed=5 + n)).result() for n, w in enumerate(windows)]
    seen: list = []
    futures = [patchmatch_pool.submit(task(w, seen, seed=5 + n)) for n, w in enumerate(windows)]  # both at once
    for future, wanted in zip(futures, expected):
        assert same(future.result(timeout=120), wanted)
    assert patchmatch_pool.size == 2 and patchmatch_pool.describe() == create_painter("patchmatch").describe()
    assert [(p.step, p.steps) for p in seen] == [(1, 1), (1, 1)]


def test_diffusion_actor_paints_the_same_pixels_and_reports_every_step_with_previews(diffusion_pool, models):
    pixels = window(512)
    with ThreadPool([models.painter("sd-inpaint")]) as local:
        expected = local.submit(task(pixels, seed=11, candidates=2, **QUICK)).result()
    seen: list = []
    painted = diffusion_pool.submit(task(pixels, seen, seed=11, candidates=2, **QUICK)).result(timeout=300)
    assert same(painted, expected)
    assert [p.step for p in seen] == list(range(1, len(seen) + 1)) and seen[-1].step == seen[-1].steps
    assert any(p.preview is not None for p in seen)
    assert diffusion_pool.describe()["model"] == str(models.folder("sd-inpaint"))


def test_cancel_reaches_the_actor_between_steps_and_the_actor_paints_on(diffusion_pool):
    cancel = CancelToken()
    seen: list = []

    def progress(report) -> None:
        seen.append(report)
        cancel.cancel()  # at the first step the pool hands back

    steps = 40
    future = diffusion_pool.submit(WindowTask(window(512), PaintRequest(seed=1, steps=steps, guidance=1.0),
                                              TilerSettings(), progress, cancel))
    with pytest.raises(Cancelled):
        future.result(timeout=300)
    assert 1 <= len(seen) < steps
    after = diffusion_pool.submit(task(window(512), seed=1, **QUICK)).result(timeout=300)
    assert len(after.candidates) == 1


@pytest.fixture(scope="module")
def lone_pool(local_ray):
    with RayPool("patchmatch", {}, size=1, address="auto") as pool:
        yield pool


KILLED = {"seed": 3, "candidates": 2}  # the window of the kill tests: killed after its first candidate


@pytest.fixture(scope="module")
def killed_expected():
    with ThreadPool([create_painter("patchmatch")]) as local:
        return local.submit(task(window(256), **KILLED)).result()


@pytest.mark.parametrize("how", ["ray.kill", "SIGKILL"])
def test_an_actor_killed_mid_window_has_the_window_painted_again_on_a_new_actor(lone_pool, killed_expected, how):
    doomed = lone_pool.actors[0]
    seen: list = []

    def progress(report) -> None:
        seen.append(report)
        if len(seen) == 1:  # one candidate of two painted: the window is half done
            if how == "ray.kill":
                ray.kill(doomed, no_restart=True)
            else:
                os.kill(ray.get(doomed.pid.remote()), signal.SIGKILL)

    painted = lone_pool.submit(WindowTask(window(256), PaintRequest(**KILLED), TilerSettings(), progress,
                                          CancelToken())).result(timeout=300)
    assert same(painted, killed_expected)  # only the new actor's whole result
    assert lone_pool.actors[0] is not doomed
    steps = [p.step for p in seen]
    assert steps[-2:] == [1, 2] and len(steps) >= 3  # painted again from the start


def test_a_window_over_the_time_limit_fails_and_a_fresh_actor_paints_the_next(lone_pool):
    from canvas.jobs.watchdog import PainterTimeout

    lone_pool.timeout = 0.05
    try:
        with pytest.raises(PainterTimeout):
            lone_pool.submit(task(window(256), seed=1, candidates=2)).result(timeout=300)
    finally:
        lone_pool.timeout = None
    assert lone_pool.actors[0] is None  # killed: it might never have returned
    assert len(lone_pool.submit(task(window(256), seed=1)).result(timeout=300).candidates) == 1


def test_a_job_painted_by_ray_actors_leaves_the_canvas_the_sequential_order_leaves(patchmatch_pool):
    from canvas.jobs import Expand, JobSpec, WindowProgress, run_job
    from canvas.store import Store
    from tiler.rect import Rect

    spec = JobSpec(Expand(left=128, right=128), request=PaintRequest(seed=9))
    canvases = []
    for pool in (None, patchmatch_pool):
        events: list = []
        with Store.open(":memory:") as store:
            store.import_image(photo("astronaut"), 0, 0)
            result = run_job(store, create_painter("patchmatch") if pool is None else None, spec,
                             on_event=events.append, pool=pool)
            assert result.status == "done" and result.windows_done == len(result.windows) >= 2
            canvases.append((store.read(0, Rect(-128, 0, 768, 512)), store.history()[-1].params))
        assert any(isinstance(event, WindowProgress) for event in events)
    (sequential, recorded), (on_ray, recorded_on_ray) = canvases
    assert np.array_equal(on_ray, sequential) and recorded_on_ray == recorded


def test_a_painter_that_cannot_be_built_fails_the_pool_with_its_own_error(local_ray):
    with pytest.raises(ValueError, match="patch size"):
        RayPool("patchmatch", {"patch_size": 999}, size=1, address="auto")
    with pytest.raises(ValueError, match="painters must be at least 1"):
        RayPool("patchmatch", {}, size=0, address="auto")


def test_more_painters_than_the_cluster_has_room_for_fail_at_once(local_ray):
    from canvas.jobs.ray_pool import NoRoom

    with pytest.raises(NoRoom, match="need 64 CPUs on the Ray cluster, it has 8"):
        RayPool("patchmatch", {}, size=64, address="auto")
    with pytest.raises(NoRoom, match="GPU"):
        RayPool("diffusion", {"model": "unused"}, size=1, address="auto", num_gpus=1)


# --- boundless worker: how a machine joins ---------------------------------------------------


def test_worker_prints_and_would_run_ray_start_with_the_machines_resources(capsys):
    from canvas.cli import main

    assert main(["worker", "--address", "10.0.0.5:6379", "--num-gpus", "2", "--num-cpus", "8", "--dry-run"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("boundless worker: ") and line.endswith(
        "ray start --block --disable-usage-stats --address 10.0.0.5:6379 --num-gpus 2 --num-cpus 8")
    assert main(["worker", "--head", "--port", "6390", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ray start --block --disable-usage-stats --head --port 6390" in out and "boundless worker --address " in out
    assert "RAY_AUTH_MODE=token boundless serve --ray auto" in out


@pytest.mark.parametrize("argv, message", [
    ([], "give --address HEAD:PORT"),
    (["--head", "--address", "h:1"], "give only one"),
    (["--address", "h:1", "--num-gpus", "-1"], "--num-gpus must be 0 or more"),
])
def test_worker_refuses_what_cannot_join_in_one_line(capsys, argv, message):
    from canvas.cli import main

    assert main(["worker", *argv, "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_worker_without_ray_installed_says_how_to_install_it():
    import subprocess
    import sys

    code = "import sys; sys.modules['ray'] = None; from canvas.cli import main; sys.exit(main(['worker', '--address', 'h:1']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "pip install 'boundless-canvas[ray]'" in done.stderr


def test_the_cli_paints_on_ray_actors_the_pixels_it_paints_alone(local_ray, tmp_path, capsys):
    from PIL import Image

    from canvas.cli import main

    source = tmp_path / "photo.png"
    Image.fromarray(photo("astronaut")).save(source)
    outputs = []
    for extra in ([], ["--painters", "2", "--ray", "auto"]):  # Ray as the test started it
        out = tmp_path / f"out{len(outputs)}.png"
        assert main(["expand", str(source), "--right", "64", "-q", "-o", str(out), *extra]) == 0  # one window
        outputs.append(np.asarray(Image.open(out)))
    assert outputs[0].shape[:2] == (512, 576) and np.array_equal(*outputs)
    assert main(["expand", str(source), "--right", "64", "--painters", "64", "--ray", "auto", "-o",
                 str(tmp_path / "never.png")]) == 2
    assert "64 painters need 64 CPUs on the Ray cluster" in capsys.readouterr().err
    assert not (tmp_path / "never.png").exists()


def test_the_server_paints_on_ray_actors_with_its_progress_bar_moving(patchmatch_pool, tmp_path):
    from serving import Server, png

    server = Server(tmp_path / "data", painters={"patchmatch": patchmatch_pool})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 512)))[0] == 201
        client = server.socket("default")
        assert client.welcome["painter_pools"] == {"patchmatch": 2}
        assert client.welcome["painter_info"] == {"patchmatch": {"label": "PatchMatch", "uses": [], "defaults": {}}}
        job = client.ask({"type": "expand", "right": 128, "params": {"seed": 4}})["job"]
        assert client.next("job.done", job=job, timeout=300)["status"] == "done"
        assert any(m["type"] == "job.progress" and m["job"] == job for m in client.seen)
        assert any(m["type"] == "window.committed" and m["job"] == job for m in client.seen)
        client.close()
    finally:
        server.stop()


def test_a_flux_fill_actor_paints_the_pixels_an_in_process_painter_paints(local_ray, tmp_path_factory):
    pytest.importorskip("diffusers")
    from tiny_families import FAMILY_KINDS, TinyFamilies

    key = "flux-fill" if "flux-fill" in FAMILY_KINDS else FAMILY_KINDS[0]
    tiny = TinyFamilies.shared(tmp_path_factory)
    pixels = window(512)
    with ThreadPool([tiny.painter(key)]) as local:
        expected = local.submit(task(pixels, seed=7, candidates=2, **QUICK)).result()
    options = {"model": str(tiny.folder(key)), "dtype": "fp32", "offline": True}
    seen: list = []
    with RayPool("diffusion", options, size=1, address="auto") as pool:
        assert pool.describe()["family"] == key and pool.profile.label == tiny.painter(key).label
        painted = pool.submit(task(pixels, seen, seed=7, candidates=2, **QUICK)).result(timeout=300)
    assert same(painted, expected) and any(p.preview is not None for p in seen)


def test_a_ray_actor_loads_a_model_by_its_library_name(local_ray, models, tmp_path):
    from library_folders import comfy_folder

    folder = comfy_folder(models, tmp_path / "ComfyUI")
    options = {"model": "sd15", "models": (str(folder),), "dtype": "fp32", "offline": True}
    with RayPool("diffusion", options, size=1, address="auto") as pool:
        seen: list = []
        painted = pool.submit(task(window(512), seen, seed=2, model="tiny-xl", **QUICK)).result(timeout=300)
        assert pool.describe()["model"] == "sd15"
    assert len(painted.candidates) == 1
    assert [(p.loading, p.step) for p in seen if p.loading] == [("tiny-xl", 0), ("tiny-xl", 1)]
