"""Benchmark the window planner on the standard growth tasks; prints figures, asserts nothing.

    python bench/planner.py                 # table
    python bench/planner.py --json OUT      # and {task: figures} as JSON in OUT

bound_ratio = processed_px / (new_px / (1 - context)): 1.0 means every window carried just
the minimum context and no waste.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiler.planner import critical_path, plan_windows  # noqa: E402
from tiler.rect import Rect  # noqa: E402

WINDOW = 512
CONTEXT = 0.25
IMAGE = Rect(0, 0, 512, 512)


def grow_task(grown: Rect) -> tuple[np.ndarray, np.ndarray, Rect]:
    """The 512 px image at (0, 0) grown to ``grown``: known, target, area."""
    area = grown.union(IMAGE).grow(WINDOW)
    known = np.zeros((area.h, area.w), bool)
    target = np.zeros_like(known)
    target[grown.relative_to(area).slices] = True
    known[IMAGE.relative_to(area).slices] = True
    target &= ~known
    return known, target, area


def holes_task() -> tuple[np.ndarray, np.ndarray, Rect]:
    """Three 100 px holes, far apart, in a 2048 px known image."""
    image = Rect(0, 0, 2048, 2048)
    area = image.grow(WINDOW)
    known = np.zeros((area.h, area.w), bool)
    known[image.relative_to(area).slices] = True
    target = np.zeros_like(known)
    for x, y in [(150, 200), (1000, 1700), (1800, 900)]:
        target[Rect(x, y, 100, 100).relative_to(area).slices] = True
    return known & ~target, target, area


TASKS = {
    "T1 +256 right": lambda: grow_task(IMAGE.grow(0, 0, 256, 0)),
    "T2 +256 all sides": lambda: grow_task(IMAGE.grow(256)),
    "T3 +1024 down": lambda: grow_task(IMAGE.grow(0, 0, 0, 1024)),
    "T4 to 2048 square": lambda: grow_task(IMAGE.grow(768)),
    "T5 three holes": holes_task,
}


def run(task) -> dict:
    known, target, area = task()
    start = time.perf_counter()
    windows = plan_windows(known, target, area, window=WINDOW, context=CONTEXT)
    ms = (time.perf_counter() - start) * 1000
    processed = sum(w.rect.area for w in windows)
    new = sum(w.new_px for w in windows)
    return {
        "windows": len(windows),
        "processed_px": processed,
        "new_px": new,
        "context": CONTEXT,
        "min_window_context": round(min(w.context for w in windows), 4),
        "best_effort_windows": sum(not w.context_ok for w in windows),
        "bound_ratio": round(processed / (new / (1 - CONTEXT)), 4),
        "critical_path": critical_path(windows),
        "plan_ms": round(ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="write {task: figures} here")
    args = parser.parse_args()
    results = {name: run(task) for name, task in TASKS.items()}
    cols = ["windows", "processed_px", "new_px", "bound_ratio", "critical_path", "plan_ms"]
    print(f"{'task':<20}" + "".join(f"{c:>15}" for c in cols))
    for name, r in results.items():
        print(f"{name:<20}" + "".join(f"{r[c]:>15}" for c in cols))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
