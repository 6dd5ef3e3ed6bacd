"""Shared bits of the benchmarks that drive a real server and Debian's Chromium.

    port = free_port()
    wait_up(f"http://127.0.0.1:{port}")
    browser = launch(playwright)
    size = viewport_for_canvas(browser, base, 1920, 1080)  # browser size whose <canvas> is 1920 x 1080
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# As the browser tests run it: no sandbox as root, no background traffic.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(base: str, timeout: float = 30, alive: Any = None) -> None:
    """Wait until the server answers `GET /api/canvases`; `alive()` false means it died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(base + "/api/canvases", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if alive is not None and not alive():
            raise SystemExit("the server exited before it answered")
        if time.monotonic() > deadline:
            raise SystemExit(f"the server at {base} did not answer within {timeout} s")
        time.sleep(0.05)


def launch(playwright: Any, args: tuple[str, ...] = ()) -> Any:
    if not CHROMIUM.exists():
        raise SystemExit(f"this benchmark needs Debian's Chromium at {CHROMIUM}")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, *args])


def wait_ready(page: Any) -> None:
    page.wait_for_function("() => window.boundless && window.boundless.conn.isOpen && window.boundless.subscribed",
                           timeout=TIMEOUT_MS)


def settle(page: Any) -> None:
    """As the browser tests: no visible tile waits for pixels, and a frame has been drawn."""
    page.wait_for_function("""() => {
        const app = window.boundless, level = app.view.level(app.topLevel + 4);
        return app.layer.pending(app.view, level) === 0 && !app.drawPending;
    }""", timeout=TIMEOUT_MS)
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def viewport_for_canvas(browser: Any, base: str, width: int, height: int) -> dict[str, int]:
    """The browser viewport that gives the client's <canvas> element `width` x `height` CSS px
    (the header and the settings panel take the rest)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(base)
        page.wait_for_function("() => window.boundless", timeout=TIMEOUT_MS)
        w, h = page.evaluate("() => [document.getElementById('canvas').clientWidth, document.getElementById('canvas').clientHeight]")
    finally:
        context.close()
    return {"width": 2 * width - w, "height": 2 * height - h}
