"""Benchmark a fresh page: a 1920 x 1080 view at level 0 and at level 4 of a canvas with
64 megapixels painted, from navigation start to the last tile drawn.

    python bench/viewport.py [--json OUT] [--samples 7] [--verbose]

Method. The canvas is built as bench/store.py builds it (256 windows of 512 x 512 photo-like
noise = 64 Mpx, in 16 clusters of 4 x 4 overlapping windows scattered over a 100000 px
square), straight through canvas.store.Store into `DATA/default.canvas`; then the real
server runs as a child process, `python -m canvas serve --data DATA --port P`.

Each sample is a new browser context (empty HTTP cache) whose viewport is sized so that
the client's <canvas> element is 1920 x 1080 CSS px (the header and the settings panel
take the rest; device pixel ratio 1). It opens the server's address, `/`, as a person
does who saw this canvas before: an init script (run before the page's own scripts) leaves
in localStorage the view the client keeps per canvas, centred on a cluster at scale 1
(level 0) or 1/16 (level 4), so the page opens there. The figure is the user timing the
client marks at its first frame with every visible tile of the drawn level painted (or
known empty): static/tiles.js's VIEW_COMPLETE, whichever draws it (boot.js's first
picture or the App); it counts from navigation start. So the figure covers the page, its
first modules, the websocket's `welcome` and every tile's pixels. The time the whole
client is up (`window.boundless` set) is printed too, as `l0_app_ms` and `l4_app_ms`.

Figures: `l0_ms` and `l4_ms`, the median over `--samples` loads, each centred on another
cluster (the server keeps running, so its caches warm up; the browser's never do), after
one unreported load to start the browser. Prints figures; asserts nothing.

The floor in the same run. Absolute milliseconds do not hold on a shared machine, so each
round also loads bench/floor.py's bare page (one websocket, one subscribe, putImageData)
on the same cluster and level, in the same browser: client l0, floor l0, client l4, floor
l4, in the opposite order every other round (the second load of a cluster meets a warmer
server). `l0_over_floor` and `l4_over_floor` are the medians of the per-round ratios
client / floor; goal: at most 1.3. `floor_l0_ms` and `floor_l4_ms` are the floor's medians.
The browser is launched with bench/floor.py's BROWSER_ARGS, which also turn off Chromium's
preloading of its own top-chrome WebUI for each new window (see there): it landed on a
random sample's load, the floor's or the client's, and was no part of either page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import report  # noqa: E402
from live import TIMEOUT_MS, free_port, launch, viewport_for_canvas, wait_up  # noqa: E402
from store import build  # noqa: E402  (bench/store.py)

from tiler.rect import Rect  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VIEW = (1920, 1080)
WINDOWS = 256  # 64 megapixels
EXTENT = 100_000

DRAWN = "bench: the last tile is drawn"
# The client marks a user timing at its first frame with every visible tile drawn
# (static/tiles.js's VIEW_COMPLETE); the page then says so on its console: waiting with
# wait_for_function would evaluate Playwright's injected script in the page while it loads
# (about 30 ms of its main thread in a Chromium trace), a cost of the bench, not of the client.
COMPLETE = "boundless: view complete"
HOOK = """(target) => {
    // Where the client finds the view it showed last on this canvas, as after a visit.
    localStorage.setItem("boundless.default.view", JSON.stringify({cx: target.cx, cy: target.cy, scale: target.scale}));
    new PerformanceObserver((list) => {
        for (const mark of list.getEntries()) {
            if (mark.name !== target.complete || window.__lastTile) continue;
            window.__lastTile = {ms: mark.startTime, level: mark.detail.level};
            console.debug(target.drawn);
        }
    }).observe({type: "mark", buffered: true});
    // Where the time goes (--verbose): the socket's open, its first message (the welcome),
    // the first subscribe sent, and the first binary message (its answer with the pixels).
    const ws = window.__ws = {}, Native = window.WebSocket, send = Native.prototype.send;
    window.WebSocket = function (url, protocols) {
        const socket = new Native(url, protocols);
        socket.addEventListener("open", () => { ws.open ??= performance.now(); });
        socket.addEventListener("message", (event) => {
            ws.welcome ??= performance.now();
            if (typeof event.data !== "string") ws.answer ??= performance.now();
        });
        return socket;
    };
    Object.assign(window.WebSocket, Native);
    window.WebSocket.prototype = Native.prototype;
    Native.prototype.send = function (data) { ws.subscribe ??= performance.now(); return send.call(this, data); };
    let app = null;
    Object.defineProperty(window, "boundless", {  // when the whole client is up
        configurable: true, enumerable: true,
        get() { return app; },
        set(value) { app = value; window.__app = performance.now(); },
    });
}"""


def load(browser: Any, base: str, viewport: dict, cx: float, cy: float, level: int) -> dict[str, Any]:
    """One fresh page centred on (cx, cy) at `level`; the time to its last tile drawn."""
    context = browser.new_context(viewport=viewport)
    try:
        errors: list[str] = []
        target = {"cx": cx, "cy": cy, "scale": 2.0 ** -level, "drawn": DRAWN, "complete": COMPLETE}
        context.add_init_script(f"({HOOK})({json.dumps(target)})")
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        with page.expect_console_message(lambda message: message.text == DRAWN, timeout=TIMEOUT_MS):
            page.goto(base)
        page.wait_for_function("() => window.boundless", timeout=TIMEOUT_MS)
        out = page.evaluate("""() => {
            const app = window.boundless, view = app.view, level = window.__lastTile.level;
            const tiles = [...view.visibleRect().toLevel(0, level).tiles(256)].map(([tx, ty]) => app.layer.get(level, tx, ty, false));
            const nav = performance.getEntriesByType("navigation")[0];
            const res = performance.getEntriesByType("resource"), tile = res.filter((r) => r.name.includes("/tiles/"));
            const api = res.find((r) => r.name.endsWith("/api/canvases"));
            const timeline = {html: nav.responseEnd, ...window.__ws, dom: nav.domContentLoadedEventEnd, app: window.__app, api: api ? api.responseEnd : null,
                              first_tile: tile.length ? Math.min(...tile.map((r) => r.startTime)) : null,
                              last_tile: tile.length ? Math.max(...tile.map((r) => r.responseEnd)) : null};
            return {ms: window.__lastTile.ms, level, timeline, size: [view.width, view.height],
                    centre: view.toWorld(view.width / 2, view.height / 2),
                    tiles: tiles.length, painted: tiles.filter((t) => t && t.image).length};
        }""")
        if errors:
            print("page errors:", *errors, sep="\n  ", file=sys.stderr)
        return out
    finally:
        context.close()


@contextmanager
def served_canvas(seed: int, prefix: str) -> Iterator[tuple[str, list[Rect], float]]:
    """The 64-megapixel canvas built in a temporary data folder and `boundless serve` on it:
    (the server's address, the painted clusters, seconds the build took)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        start = time.perf_counter()
        _, _, clusters = build(data / "default.canvas", WINDOWS, EXTENT, seed)
        build_s = time.perf_counter() - start
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "canvas", "serve", "--data", str(data), "--port", str(port)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_up(base, alive=lambda: server.poll() is None)
            yield base, clusters, build_s
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()


def check(out: dict[str, Any], cx: float, cy: float, level: int) -> None:
    """Warn when a load did not show the view asked for (the figures would not compare)."""
    if out["size"] != list(VIEW) or out["level"] != level or max(abs(out["centre"][0] - cx), abs(out["centre"][1] - cy)) > 2 ** level:
        print(f"warning: the view was {out['size']} at level {out['level']} centred on {out['centre']},"
              f" not {list(VIEW)} at level {level} on ({cx}, {cy})", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--samples", type=int, default=7, help="rounds: fresh pages per level and page (default 7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print each load")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    import floor  # here, not above: floor.py imports this module's served_canvas

    with served_canvas(args.seed, "boundless-viewport-") as (base, clusters, build_s):
        figures: dict[str, Any] = {"painted_mp": round(WINDOWS * 512 * 512 / 1e6, 1), "build_s": round(build_s, 1)}
        client: dict[int, list[dict[str, Any]]] = {0: [], 4: []}
        bare: dict[int, list[dict[str, Any]]] = {0: [], 4: []}
        with sync_playwright() as playwright:
            browser = launch(playwright, floor.BROWSER_ARGS)
            viewport = viewport_for_canvas(browser, base, *VIEW)
            first = clusters[-1]
            load(browser, base, viewport, first.x + first.w / 2, first.y + first.h / 2, 0)  # start the browser
            floor.load(browser, base, first.x + first.w / 2, first.y + first.h / 2, 0)
            for round_, cluster in enumerate(clusters[: args.samples]):
                cx, cy = cluster.x + cluster.w / 2, cluster.y + cluster.h / 2
                for level in (0, 4):
                    pages = ["client", "floor"] if round_ % 2 == 0 else ["floor", "client"]
                    for which in pages:
                        if which == "client":
                            out = load(browser, base, viewport, cx, cy, level)
                            check(out, cx, cy, level)
                            client[level].append(out)
                        else:
                            out = floor.load(browser, base, cx, cy, level)
                            bare[level].append(out)
                        if args.verbose:
                            timeline = out["timeline"] if which == "client" else {k: out[k] for k in ("open", "answer")}
                            print(f"round {round_} level {level} {which:<6} at ({cx:.0f}, {cy:.0f}): {out['ms']:.1f} ms;"
                                  f" {', '.join(f'{k} {v:.0f}' for k, v in timeline.items() if v is not None)} ms",
                                  file=sys.stderr)
            browser.close()
        for level in (0, 4):
            times = [out["ms"] for out in client[level]]
            figures[f"l{level}_ms"] = round(statistics.median(times), 1)
            figures[f"l{level}_worst_ms"] = round(max(times), 1)
            figures[f"l{level}_app_ms"] = round(statistics.median(out["timeline"]["app"] for out in client[level]), 1)  # the whole client up
            figures[f"l{level}_tiles"] = statistics.median_low(out["tiles"] for out in client[level])  # visible tiles
            figures[f"l{level}_painted_tiles"] = statistics.median_low(out["painted"] for out in client[level])  # of them, not empty
            figures[f"floor_l{level}_ms"] = round(statistics.median(out["ms"] for out in bare[level]), 1)
        for level in (0, 4):
            ratios = [c["ms"] / f["ms"] for c, f in zip(client[level], bare[level], strict=True)]
            figures[f"l{level}_over_floor"] = round(statistics.median(ratios), 2)
        figures["goal_over_floor"] = 1.3
    report(figures, args.json)


if __name__ == "__main__":
    main()
