"""Benchmark the canvas store: build a painted canvas, then time views and commits.

    python bench/store.py [--json OUT] [--windows 256] [--extent 100000]

Paints ``--windows`` 512 x 512 windows of photo-like noise (256 windows = 64 megapixels)
in clusters of 16 overlapping windows (4 x 4, like an outpainting session grows),
the clusters scattered over an ``--extent`` px square, one revision per cluster, on a
real file in a temporary directory. Then the median time to read a 1920 x 1080 view at
levels 0 and 3, cold (a fresh Store: empty cache, index loaded at open) and warm.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from canvas.store import Store  # noqa: E402
from tiler.rect import Rect  # noqa: E402

WINDOW = 512
CLUSTER = 4  # windows per side of a cluster
STEP = 448  # window spacing inside a cluster: 64 px of overlap, like a seam band
VIEW = (1920, 1080)


def photo_like(rng: np.random.Generator) -> np.ndarray:
    """Smooth colour fields plus grain: compresses and downsamples like a photo, not like noise."""
    coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((WINDOW, WINDOW), Image.BICUBIC), np.int16)
    grain = rng.integers(-12, 13, (WINDOW, WINDOW, 3), dtype=np.int16)
    rgba = np.full((WINDOW, WINDOW, 4), 255, np.uint8)
    rgba[..., :3] = np.clip(smooth + grain, 0, 255)
    return rgba


def build(path: Path, windows: int, extent: int, seed: int) -> tuple[list[float], list[float], list[Rect]]:
    """Paint the canvas; returns commit wall and CPU times (s) and each cluster's level-0 rect."""
    rng = np.random.default_rng(seed)
    commits: list[float] = []
    cpu: list[float] = []
    clusters: list[Rect] = []
    span = STEP * (CLUSTER - 1) + WINDOW
    with Store.open(path) as store:
        left = windows
        while left > 0:
            x0, y0 = (int(v) for v in rng.integers(-extent // 2, extent // 2 - span, 2))
            clusters.append(Rect(x0, y0, span, span))
            rev = store.begin_revision("outpaint", {"painter": "bench", "seed": len(clusters)})
            for i in range(min(left, CLUSTER * CLUSTER)):
                rect = Rect(x0 + STEP * (i % CLUSTER), y0 + STEP * (i // CLUSTER), WINDOW, WINDOW)
                pixels = photo_like(rng)
                start, start_cpu = time.perf_counter(), time.process_time()
                store.commit(rev, 0, rect, pixels)
                commits.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            left -= CLUSTER * CLUSTER
            store.finish_revision(rev, "done", windows=CLUSTER * CLUSTER)
    return commits, cpu, clusters


def view_at(cluster: Rect, level: int) -> Rect:
    """A 1920 x 1080 view at ``level`` centred on a cluster."""
    cx, cy = (cluster.x + cluster.w // 2) >> level, (cluster.y + cluster.h // 2) >> level
    return Rect(cx - VIEW[0] // 2, cy - VIEW[1] // 2, *VIEW)


def time_views(path: Path, clusters: list[Rect], level: int, samples: int) -> tuple[float, float, float]:
    """Median cold and warm read times (ms), and median open time (ms)."""
    cold, warm, opens = [], [], []
    for cluster in clusters[:samples]:
        rect = view_at(cluster, level)
        start = time.perf_counter()
        store = Store.open(path, create=False)
        opens.append(time.perf_counter() - start)
        with store:
            start = time.perf_counter()
            store.read(level, rect)
            cold.append(time.perf_counter() - start)
            for _ in range(3):
                start = time.perf_counter()
                store.read(level, rect)
                warm.append(time.perf_counter() - start)
    ms = lambda values: round(1000 * statistics.median(values), 2)  # noqa: E731
    return ms(cold), ms(warm), ms(opens)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--windows", type=int, default=256)
    parser.add_argument("--extent", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=8, help="views per level")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="boundless-bench-") as tmp:
        path = Path(tmp) / "bench.canvas"
        start = time.perf_counter()
        commits, cpu, clusters = build(path, args.windows, args.extent, args.seed)
        build_s = time.perf_counter() - start
        l0_cold, l0_warm, open_ms = time_views(path, clusters, 0, args.samples)
        l3_cold, l3_warm, _ = time_views(path, clusters, 3, args.samples)
        with Store.open(path, create=False) as store:
            top = store.top_level
        db_bytes = sum(f.stat().st_size for f in Path(tmp).iterdir() if f.name.startswith(path.name))

    figures = {
        "windows": args.windows,
        "painted_mp": round(args.windows * WINDOW * WINDOW / 1e6, 1),
        "extent_px": args.extent,
        "top_level": top,
        "build_s": round(build_s, 2),
        "commit_512_ms": round(1000 * statistics.median(commits), 2),
        "commit_512_mean_ms": round(1000 * statistics.fmean(commits), 2),
        "commit_512_cpu_ms": round(1000 * statistics.median(cpu), 2),  # user + system, this process
        "open_ms": open_ms,
        "view_l0_cold_ms": l0_cold,
        "view_l0_warm_ms": l0_warm,
        "view_l3_cold_ms": l3_cold,
        "view_l3_warm_ms": l3_warm,
        "db_mb": round(db_bytes / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
