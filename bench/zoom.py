"""Benchmark zoom-out: windows and time per step, and how fast a zoom video renders.

    python bench/zoom.py [--json OUT] [--steps 6] [--painter patchmatch]

Method. A 512 x 512 photo (scikit-image's astronaut if installed, else a photo-like
picture) is zoomed out `--steps` times by 2 with the PatchMatch painter through the job
path (`run_steps`, one revision), on a real canvas file; each step's windows and wall time
are printed. Then a 10 second, 512 x 512, 30 fps MP4 is rendered through all the levels
(`render_video`, H.264 through PyAV). `video_realtime_factor` is the video's duration over
its render time: above 1, it renders faster than real time. Goal: above 1 on this machine.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import photo_like, report  # noqa: E402

from canvas.jobs import JobPlanned, WindowCommitted, run_steps  # noqa: E402
from canvas.jobs.zoom import zoom_out_steps  # noqa: E402
from canvas.painters import PaintRequest, create_painter  # noqa: E402
from canvas.store import Store  # noqa: E402
from canvas.video import VideoSettings, render_video  # noqa: E402
from tiler.rect import Rect  # noqa: E402


def picture():
    try:
        from skimage import data

        return data.astronaut()[:512, :512]
    except ImportError:
        return photo_like(512, 512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--steps", type=int, default=6, help="zoom-out steps (levels) to paint (default 6)")
    parser.add_argument("--painter", default="patchmatch")
    args = parser.parse_args()

    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="boundless-zoom-") as tmp:
        with Store.open(Path(tmp) / "zoom.canvas") as store:
            store.import_image(picture(), 0, 0)
            marks: list[tuple[str, float, int]] = []

            def on_event(event) -> None:
                if isinstance(event, JobPlanned):
                    marks.append(("step", time.perf_counter(), len(event.windows)))
                elif isinstance(event, WindowCommitted):
                    marks.append(("window", time.perf_counter(), event.level))

            specs = zoom_out_steps(Rect(0, 0, 512, 512), args.steps, 2.0, PaintRequest(seed=1))
            started = time.perf_counter()
            run_steps(store, create_painter(args.painter), specs, kind="zoomout", params={}, on_event=on_event)
            ended = time.perf_counter()
            starts = [(t, n) for kind, t, n in marks if kind == "step"] + [(ended, 0)]
            for step, ((t0, windows), (t1, _)) in enumerate(zip(starts, starts[1:]), start=1):
                figures[f"step{step}_windows"] = windows
                figures[f"step{step}_s"] = round(t1 - t0, 2)
            figures["zoomout_s"] = round(ended - started, 2)
            figures["levels"] = len(store.authored_bounds())

            settings = VideoSettings(width=512, height=512, fps=30, duration=10.0)
            video = Path(tmp) / "zoom.mp4"
            stats = render_video(store, video, settings)
            figures["video_frames"] = stats.frames
            figures["video_render_s"] = round(stats.seconds, 2)
            figures["video_mb"] = round(video.stat().st_size / 1e6, 2)
            figures["video_realtime_factor"] = round(settings.duration / stats.seconds, 2)
            figures["goal_realtime_factor"] = 1.0
    report(figures, args.json)


if __name__ == "__main__":
    main()
