"""The connection status: offline with a countdown, "Reconnect now" skipping the wait,
and what changed while the page was away is on screen once it is back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from browsing import TIMEOUT, close_to, pixel, settle, status, wait_ready
from serving import Server, png


def test_reconnect_now_after_a_restart_shows_what_changed_meanwhile(open_page, tmp_path: Path, astronaut: np.ndarray, shots: Path):
    server = Server(tmp_path / "data")
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut[:, :256]))[0] == 201
        page = open_page(server)
        assert status(page) == "open" and page.inner_text("#status-text") == "Connected" and page.is_hidden("#reconnect")
        assert close_to(pixel(page, 100, 100)[:3], astronaut[100, 100])
        assert pixel(page, 400, 100)[3] == 0

        # As after a few failed tries: the next one waits the longest backoff, 8 s.
        page.evaluate("() => { window.boundless.conn.retry = 10; }")
        port = server.port
        server.stop()
        page.wait_for_function("() => document.querySelector('#status').dataset.state === 'waiting'", timeout=TIMEOUT)
        assert page.inner_text("#status-text") in ("Offline · retrying in 8 s", "Offline · retrying in 7 s")
        assert page.is_visible("#reconnect") and page.is_disabled("#generate") and page.is_disabled(".expand[data-side='right']")
        page.screenshot(path=str(shots / "reconnect-offline.png"))

        # Back, with a second picture placed while the page was away.
        server = Server(tmp_path / "data", port=port)
        assert server.http("POST", "/api/canvases/default/upload?x=256&y=0&name=right.png", png(astronaut[:, 256:]))[0] == 201
        page.click("#reconnect")
        page.wait_for_function("() => document.querySelector('#status').dataset.state === 'open'", timeout=3000)
        assert page.evaluate("() => window.boundless.conn.retryAt - Date.now()") > 2000  # well before the retry was due
        assert page.inner_text("#status-text") == "Connected" and page.is_hidden("#reconnect") and page.is_enabled("#generate")

        # No reload: the page revalidates its tiles and shows the new picture beside the old.
        page.wait_for_function("() => window.boundless.bounds.w === 512", timeout=TIMEOUT)
        settle(page)
        assert close_to(pixel(page, 100, 100)[:3], astronaut[100, 100])
        assert close_to(pixel(page, 400, 100)[:3], astronaut[100, 400])
        page.wait_for_function("() => document.querySelectorAll('#history li').length === 2", timeout=TIMEOUT)
        page.screenshot(path=str(shots / "reconnected.png"))
        assert page.errors == []
    finally:
        server.stop()


PAINTED = "() => { const c = window.boundless.canvas; const d = window.boundless.ctx.getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }"


def test_the_canvas_is_painted_from_the_first_answer_or_after_the_wait_without_one(browser, tmp_path: Path, astronaut: np.ndarray):
    """A booting page paints its canvas once the first subscribe is answered (frames of a
    bare grid before that cost a full-canvas commit each); a server that never answers
    leaves it blank only for the wait, then the grid is there."""
    server = Server(tmp_path / "data")
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut[:, :256]))[0] == 201
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            silent = context.new_page()
            silent.route_web_socket("**/ws/**", lambda ws: None)  # opens, and never says a word
            silent.goto(server.base + "/")
            silent.wait_for_function("() => window.boundless && window.boundless.conn.isOpen", timeout=TIMEOUT)
            # One look, in one turn of the page: still waiting (the page opened well within
            # the 2 s), and nothing on the canvas.
            state = silent.evaluate(f"() => ({{waiting: window.boundless.layer.awaitingFirstList(), painting: window.boundless.painting, painted: ({PAINTED})()}})")
            assert state == {"waiting": True, "painting": False, "painted": 0}
            silent.wait_for_function("() => window.boundless.painting", timeout=TIMEOUT)  # after the 2 s wait
            silent.wait_for_function(f"() => ({PAINTED})() > 0", timeout=TIMEOUT)  # the grid

            answered = context.new_page()
            answered.goto(server.base + "/")
            wait_ready(answered)
            settle(answered)
            assert answered.evaluate("() => window.boundless.painting") is True
            assert close_to(pixel(answered, 100, 100)[:3], astronaut[100, 100])
        finally:
            context.close()
    finally:
        server.stop()


# Every websocket the page makes: its address, and whether the document was still being
# parsed (the modules run after that).
SOCKETS = """(() => {
    const Native = window.WebSocket, made = window.__sockets = [];
    window.WebSocket = function (url, protocols) {
        made.push({url, parsing: document.readyState === "loading"});
        return new Native(url, protocols);
    };
    Object.assign(window.WebSocket, Native);
    window.WebSocket.prototype = Native.prototype;
})()"""


def test_the_page_opens_its_canvas_socket_before_its_modules_and_the_app_takes_it_over(browser, tmp_path: Path, astronaut: np.ndarray):
    """index.html opens the websocket of the canvas the server names (or the address asks
    for) while the stylesheet and modules load; the app takes that socket over with the
    welcome it already holds: one socket, the picture on screen."""
    server = Server(tmp_path / "data", canvas=tmp_path / "portrait.canvas")
    try:
        assert server.http("POST", "/api/canvases/portrait/upload?x=0&y=0&name=photo.png", png(astronaut[:, :256]))[0] == 201
        assert server.http("POST", "/api/canvases", {"name": "garden"})[0] == 201
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_init_script(SOCKETS)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.base + "/")
            wait_ready(page)
            settle(page)
            assert page.evaluate("() => window.__sockets") == [{"url": f"ws://127.0.0.1:{server.port}/ws/portrait", "parsing": True}]
            assert page.inner_text("#canvas-name") == "portrait" and page.evaluate("() => window.boundless.head") == 1
            assert close_to(pixel(page, 100, 100)[:3], astronaut[100, 100])

            page.goto(server.base + "/?canvas=garden")
            wait_ready(page)
            [made] = page.evaluate("() => window.__sockets")
            assert made["url"].endswith("/ws/garden") and made["parsing"] and page.inner_text("#canvas-name") == "garden"

            # After a restart the page's next socket is its own (the early one is long gone).
            # Its retry waits the longest backoff, so "Reconnect now" is still there to click.
            page.evaluate("() => { window.boundless.conn.retry = 10; }")
            port = server.port
            server.stop()
            page.wait_for_function("() => document.querySelector('#status').dataset.state === 'waiting'", timeout=TIMEOUT)
            server = Server(tmp_path / "data", canvas=tmp_path / "portrait.canvas", port=port)
            page.click("#reconnect")
            page.wait_for_function("() => document.querySelector('#status').dataset.state === 'open'", timeout=TIMEOUT)
            assert [s["url"].rsplit("/", 1)[1] for s in page.evaluate("() => window.__sockets")] == ["garden", "garden"]
            assert errors == []
        finally:
            context.close()
    finally:
        server.stop()
