"""Zoom out, grow and the zoom video from the panel: the jobs run in stages, the page
shows the canvas grown in scale and extent, and the video downloads when it is ready."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from browsing import TIMEOUT, settle
from serving import Server, png


def test_zoom_out_then_a_video_from_the_panel(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    page.evaluate("() => window.boundless.frame.set(new window.boundless.bounds.constructor(0, 0, 512, 512))")
    page.fill("#zoom-steps", "2")
    page.select_option("#zoom-factor", "2")
    page.fill("#zoom-schedule", "2: a village in the valley")
    page.click("#zoom-out")
    # the job bar counts the stages while it paints; the history gets one zoomout entry
    page.wait_for_selector("#history li:has-text('zoomout')", timeout=60_000)
    page.wait_for_function("() => !window.boundless.jobs.busy", timeout=60_000)
    # the canvas now reaches twice the picture's size on every side: the page fits it
    bounds = page.evaluate("() => window.boundless.bounds.box()")
    assert bounds == {"x": -768, "y": -768, "w": 2048, "h": 2048}
    page.click("#fit")
    settle(page)
    page.screenshot(path=str(shots / "zoomed-out.png"))
    # far from the picture, the page shows what the rings painted, not emptiness
    corner = page.evaluate("""() => {
        const app = window.boundless, [sx, sy] = app.view.toScreen(-700, -700), r = app.view.ratio;
        return [...app.ctx.getImageData(Math.floor(sx * r), Math.floor(sy * r), 1, 1).data];
    }""")
    assert corner[3] == 255 and max(corner[:3]) > 25, corner

    page.select_option("#video-size", "512x512")
    page.fill("#video-seconds", "2")
    page.select_option("#video-format", "mp4")
    # The toasts up when the outcome shows (they expire: looked at in that moment, not later).
    page.evaluate("""() => new MutationObserver(() => {
        const up = [...document.querySelectorAll("#toasts .toast")].map((toast) => toast.textContent);
        if (up.some((text) => text.startsWith("Zoom video ready"))) window.atReady ??= up;
    }).observe(document.getElementById("toasts"), {childList: true})""")
    with page.expect_download(timeout=60_000) as download:
        page.click("#video")
        page.wait_for_selector("#video-progress:not([hidden])", timeout=TIMEOUT)
    # The outcome took the place of "Making the zoom video…".
    up = page.evaluate("() => window.atReady")
    assert any(text.startswith("Zoom video ready: 60 frames") for text in up) and not any("Making" in text for text in up), up
    data = Path(download.value.path()).read_bytes()
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 60 and frames[0].shape == (512, 512, 3)
    assert download.value.suggested_filename == "default-zoom.mp4"
    page.wait_for_selector("#video-progress", state="hidden", timeout=TIMEOUT)
    assert not page.errors


def test_grow_to_full_body_from_the_panel(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    page.select_option("#grow-to", "full-body")
    page.fill("#grow-prompts", "upper body\nlegs")
    page.click("#grow")
    page.wait_for_selector("#history li:has-text('grow')", timeout=60_000)
    page.wait_for_function("() => !window.boundless.jobs.busy", timeout=60_000)
    assert page.evaluate("() => window.boundless.bounds.box()") == {"x": -426, "y": 0, "w": 1365, "h": 2048}
    page.click("#fit")
    settle(page)
    page.screenshot(path=str(shots / "grown-full-body.png"))
    assert not page.errors


def test_a_schedule_line_without_a_step_is_refused_in_the_page(open_page, server: Server, astronaut: np.ndarray):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    page.fill("#zoom-schedule", "a village without a step")
    page.click("#zoom-out")
    page.wait_for_selector(".toast.bad:has-text('STEP: PROMPT')", timeout=TIMEOUT)
    assert page.evaluate("() => window.boundless.jobs.busy") is False
