"""Benchmark many painters: the planner benchmark's 2048 x 2048 task (T4: a 512 px picture
grown 768 px on every side) painted by PatchMatch with 1 and 2 painters, in local
processes (ProcessPool) and as Ray actors (RayPool, a local Ray started here); and for
every planner task, its window count and critical path (the longest chain of dependent
windows), which bound what more painters can give. Prints figures, asserts nothing.

    python bench/parallel.py                 # table
    python bench/parallel.py --json OUT      # and the figures as JSON in OUT

speedup_pool_2 = seconds_pool_1 / seconds_pool_2, speedup_ray_2 = seconds_ray_1 /
seconds_ray_2 (each against one painter of its own kind; seconds_sequential is the job
painted in this process without a pool). Pool and actor start-up is not timed: a server
starts its painters once. same_pixels says every run committed the sequential run's pixels.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parse_args, photo_like, report  # noqa: E402
from planner import TASKS, run as plan_task  # noqa: E402

from canvas.jobs import Expand, JobSpec, TilerSettings, run_job  # noqa: E402
from canvas.jobs.process_pool import ProcessPool  # noqa: E402
from canvas.painters import create_painter  # noqa: E402
from canvas.store import Store  # noqa: E402
from tiler.planner import critical_path  # noqa: E402
from tiler.rect import Rect  # noqa: E402

GROW = 768  # T4: 512 + 2 x 768 = 2048 px a side
SPEC = JobSpec(Expand(left=GROW, right=GROW, up=GROW, down=GROW), tiler=TilerSettings(window=512, context=0.25))
PAINTER = "patchmatch"


def paint(folder: Path, label: str, pool: Any | None) -> tuple[float, np.ndarray, list]:
    """T4 on a fresh canvas: seconds, the 2048 px result, the windows."""
    with Store.open(folder / f"{label}.canvas") as store:
        store.import_image(photo_like(512, 512, seed=4), 0, 0)
        painter = create_painter(PAINTER) if pool is None else None
        start = time.perf_counter()
        result = run_job(store, painter, SPEC) if pool is None else run_job(store, None, SPEC, pool=pool)
        seconds = time.perf_counter() - start
        assert result.status == "done", result
        pixels = store.read(0, Rect(-GROW, -GROW, 512 + 2 * GROW, 512 + 2 * GROW))
    return seconds, pixels, result.windows


def timed(folder: Path, label: str, make_pool: Callable[[], Any]) -> tuple[float, np.ndarray]:
    with make_pool() as pool:
        pool.describe()  # every painter built before the clock starts
        seconds, pixels, _ = paint(folder, label, pool)
    print(f"  {label}: {seconds:.1f} s", flush=True)
    return seconds, pixels


def start_ray(folder: Path) -> Any:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(folder), log_to_driver=False)
    return ray


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    figures: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="parallel-bench-"))
    ray_folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's sockets: short paths
    try:
        sequential, expected, windows = paint(work, "sequential", None)
        print(f"  sequential: {sequential:.1f} s", flush=True)
        figures["seconds_sequential"] = round(sequential, 2)
        figures["job_windows"] = len(windows)  # T4 as the runner plans it
        figures["job_critical_path"] = critical_path(windows)
        results = {}
        for n in (1, 2):
            results[f"pool_{n}"] = timed(work, f"pool_{n}", lambda n=n: ProcessPool(PAINTER, {}, size=n))
        try:
            ray = start_ray(ray_folder)
        except ImportError:
            ray = None
            print("  ray: not installed (pip install 'boundless-canvas[ray]'); its rows are left out")
        if ray is not None:
            from canvas.jobs.ray_pool import RayPool

            try:
                for n in (1, 2):
                    results[f"ray_{n}"] = timed(work, f"ray_{n}", lambda n=n: RayPool(PAINTER, {}, size=n, address="auto"))
            finally:
                ray.shutdown()
        for label, (seconds, _) in results.items():
            figures[f"seconds_{label}"] = round(seconds, 2)
        for kind in ("pool", "ray"):
            if f"{kind}_2" in results:
                figures[f"speedup_{kind}_2"] = round(results[f"{kind}_1"][0] / results[f"{kind}_2"][0], 3)
                figures[f"speedup_{kind}_2_vs_sequential"] = round(sequential / results[f"{kind}_2"][0], 3)
        figures["same_pixels"] = all(np.array_equal(pixels, expected) for _, pixels in results.values())
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(ray_folder, ignore_errors=True)
    for name, task in TASKS.items():
        planned = plan_task(task)
        key = name.split()[0].lower()
        figures[f"{key}_windows"] = planned["windows"]
        figures[f"{key}_critical_path"] = planned["critical_path"]
        # windows / critical path: the most painters that can all be busy on average
        figures[f"{key}_max_useful_painters"] = round(planned["windows"] / planned["critical_path"], 2)
    report(figures, args.json)


if __name__ == "__main__":
    main()
