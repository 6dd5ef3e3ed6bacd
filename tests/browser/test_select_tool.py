"""The select tool in a real Chromium against a real server with a tiny random-weight SAM:
offered only when the server segments; a click shows the segment, which goes into the
inpaint mask and out of it again, grown as the command line grows it; then it inpaints."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("transformers")

from browsing import TIMEOUT, drag, frame, screen, unfocus  # noqa: E402
from canvas.segment import SegmentPrompt, grow, load_segmenter  # noqa: E402
from serving import Server, png  # noqa: E402
from tiny_models import save_sam  # noqa: E402

CLICK = (256, 256)  # where the tiny SAM's segment is small and scattered: room for a stroke beside it
IDLE = "() => window.boundless.select.segment !== null && !window.boundless.select.busy"


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    return load_segmenter(str(save_sam(tmp_path_factory.mktemp("sam") / "tiny-sam")), offline=True)


def fetch_bytes(page, what: str) -> bytes | None:
    """The bytes of a JS expression (a Uint8Array or Uint8ClampedArray, or null), as base64:
    Playwright carries a string at once where an array of a million numbers takes seconds."""
    text = page.evaluate(f"""() => {{
        const m = {what};
        if (!m) return null;
        let s = "";
        for (let i = 0; i < m.length; i += 8192) s += String.fromCharCode.apply(null, m.subarray(i, i + 8192));
        return btoa(s);
    }}""")
    return None if text is None else base64.b64decode(text)


def client_mask(page, what: str) -> np.ndarray:
    """A mask of the page (a JS expression giving w*h bytes, or null) as bools, frame-shaped."""
    data, box = fetch_bytes(page, what), frame(page)
    return np.zeros((box["h"], box["w"]), bool) if data is None else np.frombuffer(data, np.uint8).reshape(box["h"], box["w"]) > 0


def model_segment(server: Server, segmenter, page) -> np.ndarray:
    """What the model gives for the page's points and box, on what the canvas holds."""
    state = page.evaluate("() => ({ points: window.boundless.select.points, labels: window.boundless.select.labels,"
                          " box: window.boundless.select.box })")
    r = frame(page)
    status, _, body = server.http("GET", f"/api/canvases/default/export.png?x={r['x']}&y={r['y']}&w={r['w']}&h={r['h']}&level=0")
    assert status == 200
    rgba = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    local = [(x - r["x"], y - r["y"]) for x, y in state["points"]]
    box = state["box"] and [state["box"][0] - r["x"], state["box"][1] - r["y"], state["box"][2] - r["x"], state["box"][3] - r["y"]]
    prompt = SegmentPrompt.of(local, state["labels"], box, (r["w"], r["h"]))
    return segmenter.segment(("test", str(state)), lambda: rgba, prompt)[0]


def test_select_a_segment_add_it_to_the_mask_take_it_out_and_inpaint(open_page, tmp_path: Path, astronaut, segmenter, shots: Path):
    server = Server(tmp_path / "data", segmenter=segmenter)
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
        page = open_page(server)
        assert page.is_visible("[data-tool='select']") and page.is_hidden("#select-controls")
        drag(page, screen(page, 512, 256), screen(page, 256, 256))
        assert frame(page) == {"x": 0, "y": 0, "w": 512, "h": 512}

        # S: the select tool; a click asks for the segment under it, shown as an overlay.
        unfocus(page)
        page.keyboard.press("s")
        assert page.get_attribute("[data-tool='select']", "aria-pressed") == "true" and page.is_visible("#select-controls")
        page.mouse.click(*screen(page, CLICK[0] + 0.5, CLICK[1] + 0.5))
        page.wait_for_function(IDLE, timeout=TIMEOUT)
        assert page.evaluate("() => window.boundless.select.points") == [list(CLICK)]
        segment = client_mask(page, "window.boundless.select.segment")
        assert np.array_equal(segment, model_segment(server, segmenter, page))  # the model's segment, of that click
        assert 0 < segment.mean() < 1
        overlay = np.frombuffer(fetch_bytes(page, "window.boundless.select.ctx.getImageData(0, 0, 512, 512).data"), np.uint8).reshape(512, 512, 4)
        shown = overlay[..., 3] > 0
        assert page.is_visible(".frame .segment")
        assert (shown & segment).sum() == segment.sum()  # the overlay covers the segment
        assert (shown & ~segment).sum() < 200  # and beyond it only the click's marker
        cyan = overlay[segment & (np.abs(np.arange(512)[None, :] - CLICK[0]) + np.abs(np.arange(512)[:, None] - CLICK[1]) > 12)]
        assert (cyan[:, :3].astype(int) - [64, 200, 255]).__abs__().max() <= 2  # cyan, not the mask's red
        assert "Segment:" in page.inner_text("[data-select='status']")

        # Grow 4 px (as the command line's --grow), then add: the mask is the grown segment.
        assert client_mask(page, "window.boundless.brush.bytes()").sum() == 0
        page.fill("#segment-grow", "4")
        grown = grow(segment, 4)
        assert np.array_equal(client_mask(page, "window.boundless.select.mask()"), grown)
        page.click("[data-select='add']")
        assert np.array_equal(client_mask(page, "window.boundless.brush.bytes()"), grown)
        page.screenshot(path=str(shots / "segment.png"))

        # A brush stroke beside it, then remove the (ungrown) segment: only the stroke and
        # the grown rim stay.
        unfocus(page)
        page.keyboard.press("b")
        drag(page, screen(page, 40, 460), screen(page, 300, 460))
        before = client_mask(page, "window.boundless.brush.bytes()")
        assert (before & ~grown).sum() > 200 * 30
        page.keyboard.press("s")
        page.fill("#segment-grow", "0")
        page.click("[data-select='remove']")
        after = client_mask(page, "window.boundless.brush.bytes()")
        assert np.array_equal(after, before & ~segment)

        # Shift+click: a point out; a drag: a box. Each asks again, with all of them.
        page.keyboard.down("Shift")
        page.mouse.click(*screen(page, 400.5, 100.5))
        page.keyboard.up("Shift")
        page.wait_for_function(IDLE + " && window.boundless.select.labels.length === 2", timeout=TIMEOUT)
        assert page.evaluate("() => window.boundless.select.labels") == [1, 0]
        drag(page, screen(page, 100, 100), screen(page, 300, 320))
        page.wait_for_function(IDLE + " && window.boundless.select.box !== null", timeout=TIMEOUT)
        assert page.evaluate("() => window.boundless.select.box") == [100, 100, 300, 320]
        assert np.array_equal(client_mask(page, "window.boundless.select.segment"), model_segment(server, segmenter, page))
        page.click("[data-select='clear']")
        assert page.evaluate("() => window.boundless.select.segment === null && window.boundless.select.points.length === 0")
        assert page.is_hidden(".frame .segment")

        # The mask inpaints through the usual path: one more revision.
        page.click("#inpaint")
        page.wait_for_function("() => window.boundless.history.revisions.length === 2 && !window.boundless.jobs.busy", timeout=TIMEOUT)
        assert page.errors == []
    finally:
        server.stop()


def test_without_a_segmenter_there_is_no_select_tool(open_page, server: Server):
    page = open_page(server)
    assert page.is_hidden("[data-tool='select']") and page.is_hidden("#select-controls")
    unfocus(page)
    page.keyboard.press("s")  # its shortcut does nothing
    assert page.get_attribute("[data-tool='move']", "aria-pressed") == "true"
    page.keyboard.press("b")  # the other tools as before
    assert page.get_attribute("[data-tool='brush']", "aria-pressed") == "true"
    assert page.errors == []
