"""The job path's own cost per window, with a painter that paints nothing.

Read, masks, prefill (edge), colour match, composite and commit to a real SQLite file:
everything a window costs besides the painter. A fast GPU paints a 512 window in about
50 ms, so the path must stay well below that. Goal: 15 ms for a 512 window.

    python bench/overhead.py --json artifacts/overhead.json
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import parse_args, photo_like, report

from canvas.jobs import Expand, JobSpec, TilerSettings, WindowCommitted, run_job
from canvas.painters.echo import EchoPainter
from canvas.store import Store


def per_window_ms(window: int, windows: int = 10) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        with Store.open(Path(folder) / "bench.canvas") as store:
            store.import_image(photo_like(window, window), 0, 0)
            stamps: list[float] = []

            def on_event(event) -> None:
                if isinstance(event, WindowCommitted):
                    stamps.append(time.perf_counter())

            # Growing down by 3/4 of a window per window: each window is a full, typical one.
            spec = JobSpec(Expand(down=windows * window * 3 // 4), tiler=TilerSettings(window=window))
            stamps.append(time.perf_counter())
            result = run_job(store, EchoPainter(), spec, on_event=on_event)
            assert result.status == "done", result
            # The first gap also holds planning; leave it out of the per-window figures.
            return [1000 * (b - a) for a, b in zip(stamps[1:], stamps[2:])]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    figures = {}
    for window in (512, 1024):
        times = per_window_ms(window)
        figures[f"median_ms_{window}"] = round(statistics.median(times), 2)
        figures[f"worst_ms_{window}"] = round(max(times), 2)
        figures[f"windows_{window}"] = len(times)
    report(figures, args.json)


if __name__ == "__main__":
    main()
