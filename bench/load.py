"""Benchmark load: many viewers panning while jobs paint, against a real `boundless serve`.

    python bench/load.py [--json OUT] [--seconds 20] [--viewers 20] [--painters 3]

Method. The server runs as a child process on 127.0.0.1 with a data folder of its own
(tests/serving.py run as a script: the app `boundless serve` runs, on uvicorn with the
same options, serving PatchMatch, its decoded-tile cache `--cache-mb`, default 256 as in
`boundless serve`); a 1024 x 1024 picture is uploaded first. Then, for `--seconds`:

- `--viewers` clients pan, each on a thread with its own websocket and keep-alive HTTP
  connection, as the browser client does: a few times a second its 1280 x 720 viewport
  moves (a random walk over the painted area, now and then another zoom level), it sends
  `subscribe` and fetches the painted tiles the answer lists that it does not hold at
  that revision (`GET .../tiles/L/X/Y.webp?v=<canvas>-<rev>`), plus one tile outside
  them (an empty one: 204). It reads the tiles pushed to it between steps.
- `--painters` clients each paint: an `inpaint` of a 256 x 256 square somewhere in the
  picture (PatchMatch, 512 px windows), then the next when it is done, all on the same
  canvas. Jobs of one size, so that memory can show whether it stays flat (an `expand`
  grows the canvas, and with it the next expand's arrays).

Figures: tile requests, their latency (median, 99th percentile, worst), overall and while
a job was painting (between some job's `job.started` and its end), `subscribe` answer
latency, errors (HTTP 4xx/5xx, websocket `error`s, dropped connections), jobs completed,
and the server's resident memory (VmRSS from /proc, sampled every 0.2 s: at the start,
half-way, the peak and the end; its caches fill up to their bounds, then it stays).
Goal: no errors, 99th percentile under 100 ms while a job paints, memory flat. The first
moments, when every viewer fetches its first screen at once (cold WebP encodes), weigh
on the overall percentile more than painting does. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import photo_like, report  # noqa: E402
from serving import ChildServer, png  # noqa: E402

CANVAS = "default"
VIEW_W, VIEW_H = 1280, 720
TILE = 256
PICTURE = 1024  # px a side of the picture placed first
SQUARE = 256  # px a side of each inpainted square


class Run:
    """What every client thread reports, under one lock."""

    def __init__(self, seconds: float) -> None:
        self.lock = threading.Lock()
        self.until = time.monotonic() + seconds
        self.tiles: list[tuple[float, bool]] = []  # (seconds, a job was painting)
        self.subscribes: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.painting = 0  # jobs between job.started and their end
        self.jobs_done = 0
        self.jobs_failed = 0
        self.pushed = 0

    @property
    def going(self) -> bool:
        return time.monotonic() < self.until

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def viewer(server: ChildServer, run: Run, seed: int, rate: float) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    client = server.socket(CANVAS, max_queue=None)
    held: dict[tuple[int, int, int], int] = {}  # (level, tx, ty) -> revision held
    x, y, level = rng.uniform(-512, 1024), rng.uniform(-512, 1024), 0
    try:
        while run.going:
            started = time.monotonic()
            if rng.random() < 0.1:
                level = rng.choice((0, 0, 1, 2))
            x += rng.gauss(0, 160)
            y += rng.gauss(0, 120)
            bounds = client.welcome["bounds"]
            x = min(max(x, bounds["x"] - VIEW_W / 2), bounds["x"] + bounds["w"] - VIEW_W / 2)
            y = min(max(y, bounds["y"] - VIEW_H / 2), bounds["y"] + bounds["h"] - VIEW_H / 2)
            scale = 2**level
            view = {"level": level, "x": int(x / scale), "y": int(y / scale), "w": VIEW_W, "h": VIEW_H}
            asked = time.monotonic()
            answer = client.ask({"type": "subscribe", **view})
            subscribed = time.monotonic() - asked
            if answer["type"] != "ok":
                run.error(f"subscribe: {answer}")
                continue
            seen = [m for m in client.seen if m["type"] in ("tiles", "tiles.invalidated")]
            client.seen.clear()
            fresh = [(tx, ty, rev) for tx, ty, rev in answer["tiles"] if held.get((level, tx, ty)) != rev]
            empty = (view["x"] // TILE - 1, view["y"] // TILE - 1, 0)
            timings = []
            for tx, ty, rev in fresh + [empty]:
                path = f"/api/canvases/{CANVAS}/tiles/{level}/{tx}/{ty}.webp"
                if rev:
                    path += f"?v={answer['canvas_id']}-{rev}"
                asked = time.monotonic()
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                took = time.monotonic() - asked
                with run.lock:
                    painting = run.painting > 0
                timings.append((took, painting))
                with run.lock:
                    run.statuses[response.status] = run.statuses.get(response.status, 0) + 1
                if response.status not in (200, 204, 304):
                    run.error(f"GET {path}: {response.status}")
                if rev:
                    held[level, tx, ty] = rev
            for message in seen:
                if message["type"] == "tiles.invalidated":
                    client.welcome["bounds"] = message["bounds"]
            with run.lock:
                run.tiles.extend(timings)
                run.subscribes.append(subscribed)
                run.pushed += sum(len(m["tiles"]) for m in seen if m["type"] == "tiles")
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    except Exception as exc:  # noqa: BLE001 - every failure is a figure
        run.error(f"viewer {seed}: {type(exc).__name__}: {exc}")
    finally:
        client.close()
        connection.close()


def painter(server: ChildServer, run: Run, seed: int) -> None:
    rng = random.Random(seed)
    client = server.socket(CANVAS, max_queue=None)
    square = bytes([1]) * (SQUARE * SQUARE)
    try:
        while run.going:
            x, y = rng.randrange(0, PICTURE - SQUARE, 8), rng.randrange(0, PICTURE - SQUARE, 8)
            client.send_binary({"type": "inpaint", "id": f"in{seed}", "x": x, "y": y, "w": SQUARE, "h": SQUARE,
                                "params": {"window": 512, "seed": seed}}, square)
            answer = client.recv(timeout=30)
            while answer["type"] not in ("ok", "error") or answer.get("id") != f"in{seed}":
                answer = client.recv(timeout=30)
            seed += 1
            if answer["type"] != "ok":
                run.error(f"expand: {answer}")
                time.sleep(0.5)
                continue
            job, started = answer["job"], False
            while True:
                message = client.recv(timeout=120)
                if message.get("job") != job:
                    continue
                if message["type"] == "job.started":
                    started = True
                    with run.lock:
                        run.painting += 1
                if message["type"] in ("job.done", "job.failed"):
                    with run.lock:
                        run.painting -= started
                        if message["type"] == "job.done" and message["status"] == "done":
                            run.jobs_done += 1
                        else:
                            run.jobs_failed += 1
                            run.errors.append(f"job: {message}")
                    break
            client.seen.clear()
    except Exception as exc:  # noqa: BLE001
        run.error(f"painter {seed}: {type(exc).__name__}: {exc}")
    finally:
        client.close()


def sample_memory(server: ChildServer, samples: list[tuple[float, float, float]], stop: threading.Event) -> None:
    while not stop.is_set():
        samples.append((server.rss_mb(), server.rss_mb("RssAnon"), server.rss_mb("RssFile")))
        stop.wait(0.2)


def memory_figures(samples: list[tuple[float, float, float]]) -> dict[str, float]:
    """RSS at the start, half-way, its peak and the end; and the same for its two parts:
    anonymous memory (heap, caches) and mapped file pages (the canvas file, which SQLite
    maps: page cache the kernel can take back)."""
    figures = {}
    for index, name in enumerate(("rss", "rss_anon", "rss_file")):
        values = [sample[index] for sample in samples] or [0.0]
        figures.update({f"{name}_start_mb": values[0], f"{name}_half_time_mb": values[len(values) // 2],
                        f"{name}_peak_mb": max(values), f"{name}_end_mb": values[-1]})
    return figures


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--painters", type=int, default=3)
    parser.add_argument("--rate", type=float, default=4.0, help="pan steps a second per viewer (default 4)")
    parser.add_argument("--cache-mb", type=float, default=256, help="the server's decoded-tile cache (default 256)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        server = ChildServer(data, painter="patchmatch", cache_mb=args.cache_mb)
        try:
            status, _, body = server.http("POST", f"/api/canvases/{CANVAS}/upload?x=0&y=0", png(photo_like(PICTURE, PICTURE)))
            assert status == 201, body
            run = Run(args.seconds)
            memory: list[tuple[float, float, float]] = []
            stop = threading.Event()
            sampler = threading.Thread(target=sample_memory, args=(server, memory, stop), daemon=True)
            sampler.start()
            threads = [threading.Thread(target=viewer, args=(server, run, i, args.rate), daemon=True)
                       for i in range(args.viewers)]
            threads += [threading.Thread(target=painter, args=(server, run, 1000 * i), daemon=True)
                        for i in range(args.painters)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(args.seconds + 180)
            stop.set()
            sampler.join()
        finally:
            server.stop()

    all_tiles = [t for t, _ in run.tiles]
    painting = [t for t, p in run.tiles if p]
    figures: dict[str, Any] = {
        "seconds": args.seconds, "viewers": args.viewers, "painters": args.painters, "cache_mb": args.cache_mb,
        "tile_requests": len(all_tiles), "tiles_per_second": len(all_tiles) / args.seconds,
        "tile_statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "tile_median_ms": statistics.median(all_tiles) * 1000 if all_tiles else 0.0,
        "tile_p99_ms": percentile(all_tiles, 0.99) * 1000,
        "tile_worst_ms": max(all_tiles, default=0) * 1000,
        "tile_requests_while_painting": len(painting),
        "tile_median_ms_while_painting": statistics.median(painting) * 1000 if painting else 0.0,
        "tile_p99_ms_while_painting": percentile(painting, 0.99) * 1000,
        "subscribe_median_ms": statistics.median(run.subscribes) * 1000 if run.subscribes else 0.0,
        "subscribe_p99_ms": percentile(run.subscribes, 0.99) * 1000,
        "tiles_pushed": run.pushed,
        "jobs_done": run.jobs_done, "jobs_failed": run.jobs_failed,
        "errors": len(run.errors),
        **memory_figures(memory),
    }
    report(figures, args.json)
    for text in run.errors[:10]:
        print("error:", text[:300])


if __name__ == "__main__":
    main()
