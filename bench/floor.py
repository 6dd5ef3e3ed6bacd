"""The floor under bench/viewport.py: how fast a fresh page can show a 1920 x 1080 view of
the same 64-megapixel canvas on this machine, whatever the client does.

    python bench/floor.py [--json OUT] [--samples 7]

Method. The canvas, the server and the browser are bench/viewport.py's. The page is not
the client but the least a page can do: no stylesheet, no module, no layout but one
1920 x 1080 <canvas>; one inline script that opens the canvas's websocket at once, sends
one `subscribe` naming every visible tile in `send` (so the answer is one binary frame
with their raw RGBA, as the client on this machine asks), and in the next animation frame
puts them on the canvas with `putImageData`; then it stamps `performance.now()`, which
counts from navigation start, and says so on the console, as bench/viewport.py's hook
does. The page is served on the server's own origin (Playwright answers that one request
from this script, so the websocket is same-origin; Chromium's local network access check
is off for this browser, as a page with no address counts as public).

Figures: `floor_l0_ms` and `floor_l4_ms`, medians over `--samples` loads centred on
different clusters, and where the time goes (medians): the websocket open, the answer
in the page, the stamp. bench/viewport.py's `l0_ms` and `l4_ms` minus these is the
client's own cost; these are what no client can go below here. Prints; asserts nothing.
bench/viewport.py loads this page too, interleaved with the client's, for its ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import report  # noqa: E402
from live import TIMEOUT_MS, launch  # noqa: E402
from viewport import DRAWN, VIEW, served_canvas  # noqa: E402

PATH = "/bench-floor.html"
# A page Playwright answers has no address, so Chromium counts it as public and refuses its
# websocket to 127.0.0.1: allow it (the client, served by the server itself, never meets
# this check, so bench/viewport.py runs both in a browser launched so).
# No preloaded top-chrome WebUI: in headless Chromium each sample's new context is a new
# window, and Chromium preloads a WebUI for it (the omnibox popup: a renderer of its own
# loading some 35 modules, 130 to 250 ms of CPU in traces) while whichever page happens to
# load, about every other sample, the floor's as often as the client's. A person's page
# load in an open window pays none of it; on a machine with one free core it was noise of
# up to 100 ms on either side of a ratio.
BROWSER_ARGS = ("--disable-features=LocalNetworkAccessChecks,PreloadTopChromeWebUI",)
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>floor</title><style>html, body { margin: 0 } canvas { display: block }</style></head>
<body><canvas id="c" width="%(w)d" height="%(h)d"></canvas>
<script>
const [cx, cy, level] = location.hash.slice(1).split(",").map(Number);
const T = 256, W = %(w)d, H = %(h)d, marks = {};
const x0 = cx / 2 ** level - W / 2, y0 = cy / 2 ** level - H / 2;
const tx0 = Math.floor(x0 / T), ty0 = Math.floor(y0 / T), tx1 = Math.ceil((x0 + W) / T), ty1 = Math.ceil((y0 + H) / T);
const send = [];
for (let ty = ty0; ty < ty1; ty++) for (let tx = tx0; tx < tx1; tx++) send.push([tx, ty]);
const ctx = document.getElementById("c").getContext("2d");
const ws = new WebSocket(`ws://${location.host}/ws/default`);
ws.binaryType = "arraybuffer";
ws.onopen = () => {
  marks.open = performance.now();
  ws.send(JSON.stringify({ type: "subscribe", id: "s", level, x: (tx0 - 1) * T, y: (ty0 - 1) * T, w: (tx1 - tx0 + 2) * T, h: (ty1 - ty0 + 2) * T, send }));
};
ws.onmessage = (event) => {
  if (typeof event.data === "string") return;  // the welcome
  marks.answer = performance.now();
  const size = new DataView(event.data).getUint32(0, false);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(event.data, 4, size)));
  requestAnimationFrame(() => {
    head.sent.forEach(([tx, ty], i) => {
      const rgba = new Uint8ClampedArray(event.data, 4 + size + i * T * T * 4, T * T * 4);
      ctx.putImageData(new ImageData(rgba, T, T), Math.round((tx - tx0) * T - (x0 - tx0 * T)), Math.round((ty - ty0) * T - (y0 - ty0 * T)));
    });
    window.__floor = { ms: performance.now(), tiles: head.sent.length, ...marks };
    console.debug("%(drawn)s");
  });
};
</script></body></html>
""" % {"w": VIEW[0], "h": VIEW[1], "drawn": DRAWN}


def load(browser: Any, base: str, cx: float, cy: float, level: int) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": VIEW[0], "height": VIEW[1]})
    try:
        context.route(base + PATH, lambda route: route.fulfill(status=200, content_type="text/html", body=PAGE))
        page = context.new_page()
        with page.expect_console_message(lambda message: message.text == DRAWN, timeout=TIMEOUT_MS):
            page.goto(f"{base}{PATH}#{cx},{cy},{level}")
        return page.evaluate("() => window.__floor")
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--samples", type=int, default=7, help="fresh pages per level (default 7)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with served_canvas(args.seed, "boundless-floor-") as (base, clusters, _):
        figures: dict[str, Any] = {}
        with sync_playwright() as playwright:
            browser = launch(playwright, BROWSER_ARGS)
            first = clusters[-1]
            load(browser, base, first.x + first.w / 2, first.y + first.h / 2, 0)  # start the browser
            for level in (0, 4):
                loads = [load(browser, base, c.x + c.w / 2, c.y + c.h / 2, level) for c in clusters[: args.samples]]
                median = lambda key: round(statistics.median(out[key] for out in loads), 1)  # noqa: E731
                figures[f"floor_l{level}_ms"] = median("ms")
                figures[f"floor_l{level}_worst_ms"] = round(max(out["ms"] for out in loads), 1)
                figures[f"floor_l{level}_open_ms"] = median("open")
                figures[f"floor_l{level}_answer_ms"] = median("answer")
                figures[f"floor_l{level}_tiles"] = statistics.median_low(out["tiles"] for out in loads)
            browser.close()
    report(figures, args.json)


if __name__ == "__main__":
    main()
