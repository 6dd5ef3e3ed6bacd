"""The browser client against a real server: a real Chromium, real tiles, real jobs.

Pixels are read back from the client's <canvas> element, so these tests see what a person
sees: tiles arriving, a window painted, undo, a second viewer, a restart, candidates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from browsing import TIMEOUT, close_to, drag, frame, pixel, reload, screen, settle, unfocus, wait_pixel
from serving import Server, decode, png


def test_upload_outpaint_undo_and_a_second_viewer(open_page, server: Server, photo_file: Path, astronaut: np.ndarray, shots: Path):
    page = open_page(server)
    other = open_page(server)

    # An empty canvas says how to start, and undo has nothing to undo yet.
    assert page.is_visible("#empty-hint") and page.is_disabled("#undo")

    # Upload through the file picker: the photo lands at the frame (0, 0) and shows up.
    page.set_input_files("#upload-file", str(photo_file))
    page.wait_for_function("() => window.boundless.bounds.w === 512", timeout=TIMEOUT)
    page.wait_for_selector("#empty-hint", state="hidden", timeout=TIMEOUT)
    page.click("#fit")
    settle(page)
    assert close_to(pixel(page, 100, 100)[:3], astronaut[100, 100])
    other.wait_for_function("() => window.boundless.bounds.w === 512", timeout=TIMEOUT)  # told live
    other.click("#fit")
    wait_pixel(other, 100, 100, "p[3] === 255")

    # Drag the frame half across the right border of the photo.
    assert frame(page) == {"x": 0, "y": 0, "w": 512, "h": 512}
    start = screen(page, 256, 256)
    drag(page, start, screen(page, 256 + 256, 256))
    assert frame(page) == {"x": 256, "y": 0, "w": 512, "h": 512}
    assert "50% context" in page.inner_text(".frame-label")

    band_before = pixel(page, 500, 300)
    assert pixel(page, 700, 300)[3] == 0  # unknown before
    page.fill("#prompt", "more sky and a launch pad")
    page.click("#generate")
    wait_pixel(page, 700, 300, "p[3] === 255")
    page.wait_for_function("() => window.boundless.bounds.w === 768 && !window.boundless.jobs.busy", timeout=TIMEOUT)
    settle(page)
    painted = pixel(page, 700, 300)
    assert painted[3] == 255 and painted[:3] != band_before[:3]
    page.screenshot(path=str(shots / "outpainted.png"))

    # The other viewer sees the new window without reloading; its history lists the job.
    wait_pixel(other, 700, 300, f"p[3] === 255 && Math.abs(p[0] - {painted[0]}) <= 3")
    other.wait_for_function("() => document.querySelector('#history li.head')?.textContent.includes('more sky')", timeout=TIMEOUT)

    # Undo (Ctrl+Z) takes the window away, and the band is the photo's again, for both.
    unfocus(page)
    page.keyboard.press("Control+z")
    wait_pixel(page, 700, 300, "p[3] === 0")
    settle(page)
    assert close_to(pixel(page, 500, 300), band_before)
    wait_pixel(other, 700, 300, "p[3] === 0")

    # Redo from the button brings it back.
    page.click("#redo")
    wait_pixel(page, 700, 300, "p[3] === 255")
    assert page.errors == [] and other.errors == []


def test_a_fresh_page_takes_the_painted_tiles_with_its_first_subscribe(open_page, server: Server, astronaut: np.ndarray):
    # On this machine the first subscribe asks for the pixels of every tile in view and its
    # answer carries them: no tile is fetched by URL, painted or empty.
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(astronaut))[0] == 201
    page = open_page(server)
    settle(page)
    assert close_to(pixel(page, 100, 100)[:3], astronaut[100, 100]) and close_to(pixel(page, 400, 300)[:3], astronaut[300, 400])
    fetched = page.evaluate("""() => ({stats: window.boundless.layer.stats,
        urls: performance.getEntriesByType("resource").map((r) => r.name).filter((n) => n.includes("/tiles/"))})""")
    assert fetched["urls"] == [] and fetched["stats"]["fetched"] == 0, fetched
    assert page.errors == []


def test_restart_keeps_the_canvas_and_the_page_reconnects(open_page, tmp_path: Path, astronaut: np.ndarray, shots: Path):
    server = Server(tmp_path / "data")
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=-256&y=-256&name=photo.png", png(astronaut))[0] == 201
        page = open_page(server)
        assert page.evaluate("() => window.boundless.bounds.x") == -256  # fitted to what it holds
        assert close_to(pixel(page, -200, -100)[:3], astronaut[156, 56])
        # Wheel out around the photo's corner: the corner stays put, coarser tiles are drawn.
        corner = screen(page, -256, -256)
        page.mouse.move(*corner)
        page.mouse.wheel(0, 1200)
        page.wait_for_function("() => window.boundless.view.level() >= 1", timeout=TIMEOUT)
        assert all(abs(a - b) < 1 for a, b in zip(screen(page, -256, -256), corner))
        settle(page)
        assert pixel(page, -100, -100)[3] == 255 and pixel(page, -300, -100)[3] == 0
        page.click("#fit")
        settle(page)
        port = server.port
        server.stop()
        page.wait_for_function("() => document.querySelector('#status').dataset.state !== 'open'", timeout=TIMEOUT)
        assert "Offline" in page.inner_text("#status") or "Connecting" in page.inner_text("#status")
        page.screenshot(path=str(shots / "offline.png"))
        server = Server(tmp_path / "data", port=port)
        # No click: the page retries by itself, backing off up to 8 s between tries, so
        # under load this can take a couple of tries. ("Reconnect now" only skips the wait.)
        page.wait_for_function("() => document.querySelector('#status').dataset.state === 'open'", timeout=2 * TIMEOUT)
        reload(page)
        assert close_to(pixel(page, -200, -100)[:3], astronaut[156, 56])
        assert page.errors == []
    finally:
        server.stop()


def test_inpaint_a_mask_and_accept_the_second_of_two_candidates(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    assert frame(page) == {"x": 256, "y": 0, "w": 512, "h": 512}  # the first frame straddles the border
    drag(page, screen(page, 512, 256), screen(page, 256, 256))
    assert frame(page) == {"x": 0, "y": 0, "w": 512, "h": 512}
    page.fill("#candidates", "2")
    page.uncheck("#colour-match")  # TintPainter's flat candidates would match to one colour

    # Paint a stroke with the brush (B), then inpaint under it.
    unfocus(page)
    page.keyboard.press("b")
    # A tap is a round dab of the brush's size (48 px); Clear takes it away.
    page.mouse.click(*screen(page, 400, 400))
    dab = page.evaluate("() => window.boundless.brush.bytes().reduce((n, v) => n + (v > 0), 0)")
    assert abs(dab - np.pi * 24 ** 2) < 150, dab
    page.click("#clear-mask")
    assert page.evaluate("() => window.boundless.brush.bytes()") is None
    drag(page, screen(page, 150, 200), screen(page, 350, 200))
    painted = page.evaluate("() => window.boundless.brush.bytes().reduce((n, v) => n + (v > 0), 0)")
    assert painted > 200 * 30
    page.screenshot(path=str(shots / "mask.png"))
    page.click("#inpaint")

    page.wait_for_selector("#candidates-bar:not([hidden])", timeout=TIMEOUT)
    page.wait_for_function("() => window.boundless.jobs.candidates.images.every(Boolean)", timeout=TIMEOUT)
    settle(page)
    assert page.inner_text("#cand-count") == "1 / 2"
    first = pixel(page, 250, 200)
    unfocus(page)
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#cand-count") == "2 / 2"
    settle(page)
    second = pixel(page, 250, 200)
    assert not close_to(first, second, 10)  # the two candidates differ where the mask was
    page.screenshot(path=str(shots / "candidates.png"))

    page.keyboard.press("Enter")
    page.wait_for_selector("#candidates-bar", state="hidden", timeout=TIMEOUT)
    page.wait_for_function("() => !window.boundless.jobs.busy", timeout=TIMEOUT)
    wait_pixel(page, 250, 200, f"Math.abs(p[0] - {second[0]}) <= 3 && Math.abs(p[2] - {second[2]}) <= 3")
    settle(page)
    assert close_to(pixel(page, 250, 200), second)
    assert close_to(pixel(page, 100, 450)[:3], astronaut[450, 100])  # outside the mask: the photo
    assert page.errors == []


def test_progress_cancel_expand_and_settings_survive_a_reload(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    server.painter.delay = 0.4
    server.painter.steps = 20
    page = open_page(server)
    page.fill("#expand-by", "512")
    page.fill("#steps", "12")

    # Expand to the right: a slow job shows its progress, its preview, and can be cancelled.
    page.click(".expand[data-side='right']")
    page.wait_for_selector("#job-bar:not([hidden])", timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('#job-detail').textContent.includes('step')", timeout=TIMEOUT)
    page.wait_for_function("() => window.boundless.jobs.preview !== null", timeout=TIMEOUT)
    page.screenshot(path=str(shots / "progress.png"))
    page.click("#cancel")
    page.wait_for_selector("#job-bar", state="hidden", timeout=TIMEOUT)
    assert page.evaluate("() => window.boundless.bounds.w") == 512

    # The settings are still there after a reload.
    reload(page)
    assert page.input_value("#expand-by") == "512"
    assert page.input_value("#steps") == "12"
    # One painter served: the select shows it, with nothing to choose.
    assert page.input_value("#painter") == "tint" and page.is_disabled("#painter")
    assert page.errors == []


def test_the_painter_select_shows_its_options_and_a_job_sends_the_chosen_painter(open_page, tmp_path: Path, monkeypatch, shots: Path):
    from canvas.painters import PAINTERS, load_painters
    from serving import TintPainter

    monkeypatch.setitem(PAINTERS, "tint", TintPainter)
    server = Server(tmp_path / "data", painters=load_painters(["tint", "patchmatch"]))
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(np.full((256, 256, 3), 120, np.uint8)))[0] == 201
        page = open_page(server)
        # What goes on the wire: the socket's text frames.
        page.evaluate("() => { const ws = window.boundless.conn.socket, send = ws.send.bind(ws); window.sent = [];"
                      " ws.send = (d) => { if (typeof d === 'string') window.sent.push(d); send(d); }; }")
        assert page.input_value("#painter") == "tint" and page.is_enabled("#painter")  # the server's first
        assert page.locator("#painter-options input").count() == 0  # tint has no options
        page.select_option("#painter", "patchmatch")
        patch = page.locator("#painter-options input")
        assert patch.count() == 1 and patch.get_attribute("max") == "32" and patch.input_value() == "3"
        assert page.locator("#painter-options label").inner_text() == "Patch size"
        patch.fill("7")
        page.screenshot(path=str(shots / "painter.png"))

        page.click(".expand[data-side='right']")
        page.wait_for_function("() => window.sent.some((m) => m.includes('\"expand\"'))", timeout=TIMEOUT)
        sent = [m for m in page.evaluate("() => window.sent") if '"expand"' in m]
        assert '"painter":"patchmatch"' in sent[0] and '"patch_size":7' in sent[0], sent[0]
        # A real PatchMatch window: 10-18 s on a busy shared machine, as the growth tests allow.
        page.wait_for_function("() => window.boundless.bounds.w > 256", timeout=60_000)

        # The choice and its option survive a reload.
        reload(page)
        page.wait_for_function("() => document.querySelector('#painter').value === 'patchmatch'", timeout=TIMEOUT)
        assert page.input_value("#painter-options input") == "7"
        assert page.errors == []
    finally:
        server.stop()


def test_a_choice_option_is_a_select_its_value_reaches_the_job_and_the_window_follows_the_painter(open_page, tmp_path: Path):
    from pictures import PalettePainter
    from serving import TintPainter

    server = Server(tmp_path / "data", painters={"palette": PalettePainter(), "tint": TintPainter()})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(np.full((256, 256, 3), 120, np.uint8)))[0] == 201
        page = open_page(server)
        page.evaluate("() => { const ws = window.boundless.conn.socket, send = ws.send.bind(ws); window.sent = [];"
                      " ws.send = (d) => { if (typeof d === 'string') window.sent.push(d); send(d); }; }")
        choice = page.locator("#painter-options select")
        assert choice.count() == 1 and choice.input_value() == "warm"
        assert choice.locator("option").all_inner_texts() == ["warm", "cool", "grey"]
        assert page.locator("#painter-options label").inner_text() == "Palette"
        assert page.input_value("#window") == "640"  # the painter's native window (welcome.painter_windows)
        page.select_option("#painter", "tint")
        assert page.input_value("#window") == "512" and page.locator("#painter-options select").count() == 0
        page.select_option("#painter", "palette")
        assert page.input_value("#window") == "640"
        choice.select_option("cool")

        page.uncheck("#colour-match")
        page.click(".expand[data-side='right']")
        page.wait_for_function("() => window.sent.some((m) => m.includes('\"expand\"'))", timeout=TIMEOUT)
        sent = [m for m in page.evaluate("() => window.sent") if '"expand"' in m]
        assert '"painter":"palette"' in sent[0] and '"palette":"cool"' in sent[0] and '"window":640' in sent[0], sent[0]
        page.wait_for_function("() => window.boundless.bounds.w > 256", timeout=TIMEOUT)
        page.wait_for_selector("#job-bar", state="hidden", timeout=TIMEOUT)
        status, _, body = server.http("GET", "/api/canvases/default/export.png?x=300&y=100&w=1&h=1")
        assert status == 200 and tuple(decode(body)[0, 0, :3]) == PalettePainter.COLOURS["cool"]  # painted as chosen

        # The choice survives a reload; a window the user picks stays theirs, whatever the painter.
        reload(page)
        page.wait_for_function("() => document.querySelector('#painter-options select')?.value === 'cool'", timeout=TIMEOUT)
        assert page.input_value("#window") == "640"
        page.select_option("#window", "768")
        page.select_option("#painter", "tint")
        assert page.input_value("#window") == "768"
        reload(page)
        assert page.input_value("#window") == "768"
        assert page.errors == []
    finally:
        server.stop()
