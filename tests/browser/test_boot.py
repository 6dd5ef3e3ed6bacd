"""The page's boot: the first picture is drawn by boot.js from one subscribe on the early
socket, before the rest of the client has loaded, and the App takes it over; a canvas
opens where it was last seen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from browsing import TIMEOUT, VIEWPORT, close_to, pixel, reload, scale, screen, settle, wait_ready
from serving import Server, png

COMPLETE = "boundless: view complete"  # static/tiles.js's VIEW_COMPLETE
# What the page sends on its sockets (text frames), and every socket it makes.
RECORD = """(() => {
    const send = WebSocket.prototype.send;
    window.__sent = [];
    WebSocket.prototype.send = function (data) { if (typeof data === "string") window.__sent.push(JSON.parse(data)); return send.call(this, data); };
    const Native = window.WebSocket;
    window.__sockets = 0;
    window.WebSocket = function (url, protocols) { window.__sockets++; return new Native(url, protocols); };
    Object.assign(window.WebSocket, Native);
    window.WebSocket.prototype = Native.prototype;
})()"""
# RGBA of the client's <canvas> at CSS px (x, y), read without the App.
CANVAS_AT = """([x, y]) => {
    const c = document.getElementById("canvas"), r = c.width / c.clientWidth;
    return [...c.getContext("2d").getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1).data];
}"""


def test_the_first_picture_shows_before_the_rest_of_the_client_and_the_app_takes_it_over(browser, tmp_path: Path, astronaut: np.ndarray):
    server = Server(tmp_path / "data")
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(RECORD)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            held = []
            page.route("**/app.js", lambda route: held.append(route))  # app.js, and so the App, waits until we say
            page.goto(server.base + "/", wait_until="commit")  # "load" waits for app.js
            page.wait_for_function(f"() => performance.getEntriesByName({COMPLETE!r}).length === 1", timeout=TIMEOUT)
            assert held and page.evaluate("() => window.boundless") is None  # no App yet
            # The photo fitted (512 px at 1:1, centred): sample points across it.
            size = page.evaluate("() => [document.getElementById('canvas').clientWidth, document.getElementById('canvas').clientHeight]")
            points = [(size[0] / 2 + dx, size[1] / 2 + dy) for dx in (-200, 0, 150) for dy in (-180, 0, 200)]
            before = [page.evaluate(CANVAS_AT, list(p)) for p in points]
            assert all(p[3] == 255 for p in before)
            [first] = page.evaluate("() => window.__sent")
            assert first["type"] == "subscribe" and first["id"] == "boot" and first["level"] == 0
            assert [0, 0] in first["send"] and [1, 1] in first["send"]  # the visible tiles' pixels came with the answer

            held[0].continue_()
            wait_ready(page)
            # The App kept the view, the tiles and the subscription: the same picture, no
            # second subscribe, one socket.
            canvas = page.evaluate("() => { const b = window.boundless.canvas.getBoundingClientRect(); return [b.left, b.top]; }")
            for (x, y), seen in zip(points, before, strict=True):
                assert page.evaluate(CANVAS_AT, [x, y]) == seen
                wx, wy = page.evaluate("([x, y]) => window.boundless.view.toWorld(x, y)", [x, y])
                assert close_to(seen[:3], astronaut[int(wy), int(wx)], 6), (x, y, wx, wy)
            assert screen(page, 256, 256) == (canvas[0] + size[0] / 2, canvas[1] + size[1] / 2)
            assert [m["type"] for m in page.evaluate("() => window.__sent")].count("subscribe") == 1
            assert page.evaluate("() => window.__sockets") == 1
            assert page.evaluate(f"() => performance.getEntriesByName({COMPLETE!r}).length") == 1
            assert errors == []
        finally:
            context.close()
    finally:
        server.stop()


def test_a_canvas_opens_where_it_was_last_seen(open_page, server: Server, astronaut: np.ndarray):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    assert scale(page) == 1 and screen(page, 256, 256) == tuple(page.evaluate(
        "() => { const b = window.boundless.canvas.getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; }"))
    page.evaluate("() => window.boundless.view.setCamera(100 - window.boundless.view.width / 4, 300 - window.boundless.view.height / 4, 2)")
    reload(page)
    centre = page.evaluate("() => window.boundless.view.toWorld(window.boundless.view.width / 2, window.boundless.view.height / 2)")
    assert scale(page) == 2 and close_to(centre, [100, 300], 0)
    assert close_to(pixel(page, 100, 300)[:3], astronaut[300, 100])

    # Another visitor (their own storage) sees the canvas fitted.
    other = open_page(server)
    assert scale(other) == 1


def test_a_canvas_seen_before_asks_for_its_picture_without_waiting_for_the_welcome(open_page, server: Server, astronaut: np.ndarray):
    """Where the view is known (kept from the last visit), the first subscribe goes out as
    the socket opens: here the server's welcome is held until the page has asked."""
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    page.evaluate("() => window.boundless.view.setCamera(-300, -100, 0.5)")  # level 1
    order: list[str] = []

    def hold_the_welcome(ws) -> None:
        upstream = ws.connect_to_server()
        held: list = []

        def from_server(message) -> None:
            if isinstance(message, str) and '"type":"welcome"' in message and not order:
                held.append(message)
                return
            order.append("welcome" if isinstance(message, str) and '"type":"welcome"' in message else "message")
            ws.send(message)

        def from_page(message) -> None:
            if isinstance(message, str) and '"type":"subscribe"' in message:
                order.append(f"subscribe {json.loads(message)['id']}")
            upstream.send(message)
            for welcome in held:
                order.append("welcome")
                ws.send(welcome)
            held.clear()

        upstream.on_message(from_server)
        ws.on_message(from_page)

    page.route_web_socket("**/ws/**", hold_the_welcome)
    reload(page)
    # index.html's or boot.js's (whichever ran when the socket opened), before the App's could be
    assert order[:2] in (["subscribe early", "welcome"], ["subscribe boot", "welcome"]), order
    assert [m for m in order if m.startswith("subscribe")][:2] != ["subscribe early", "subscribe boot"]  # one asked
    assert page.evaluate("() => window.boundless.subscribed.level") == 1 and scale(page) == 0.5
    settle(page)
    assert close_to(pixel(page, 300, 200)[:3], astronaut[200, 300], 6)
    assert page.errors == []


def test_a_canvas_seen_before_asks_for_its_picture_from_index_html_before_boot_js_runs(browser, tmp_path: Path, astronaut: np.ndarray):
    """With boot.js held back, index.html's first script asks for the kept view's tiles as
    the socket opens; boot.js, once it runs, takes that answer as its own: one subscribe."""
    server = Server(tmp_path / "data")
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(RECORD)
        context.add_init_script("localStorage.setItem('boundless.default.view', JSON.stringify({cx: 300, cy: 200, scale: 0.5}))")
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            held = []
            page.route("**/boot.js", lambda route: held.append(route))
            page.goto(server.base + "/", wait_until="commit")
            page.wait_for_function("() => window.__sent.length === 1", timeout=TIMEOUT)
            [early] = page.evaluate("() => window.__sent")
            assert early["id"] == "early" and early["level"] == 1 and [0, 0] in early["send"]
            held[0].continue_()
            wait_ready(page)
            assert [m["type"] for m in page.evaluate("() => window.__sent")].count("subscribe") == 1
            assert page.evaluate("() => [window.boundless.subscribed.level, window.boundless.subscribed.rect.box()]") == [
                early["level"], {k: early[k] for k in ("x", "y", "w", "h")}]
            assert close_to(pixel(page, 300, 200)[:3], astronaut[200, 300], 6)
            assert errors == []
        finally:
            context.close()
    finally:
        server.stop()
