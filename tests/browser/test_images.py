"""Images in and out: a file dropped on the canvas lands at the frame; the export buttons
download PNGs of the frame and of the whole canvas, with their `parameters` chunk."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from browsing import TIMEOUT, close_to, drag, frame, pixel, screen, settle
from serving import Server, decode, png

DROP = """async ([data, name, type]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const files = new DataTransfer();
    files.items.add(new File([bytes], name, { type }));
    // Where a person lets go: the middle of the stage, whatever lies on top there.
    const box = document.getElementById("stage").getBoundingClientRect();
    const target = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    const send = (kind) => target.dispatchEvent(new DragEvent(kind, { dataTransfer: files, bubbles: true, cancelable: true }));
    send("dragenter");
    send("dragover");
    const hinted = !document.getElementById("drop-hint").hidden;
    send("drop");
    return hinted;
}"""


def drop(page, data: bytes, name: str, kind: str) -> bool:
    """Drop a file holding `data` on the stage; whether the drop hint showed while dragging."""
    return page.evaluate(DROP, [base64.b64encode(data).decode(), name, kind])


def test_a_dropped_image_lands_at_the_frame(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    page = open_page(server)
    drag(page, screen(page, 256, 256), screen(page, 256 + 128, 256 - 64))
    assert frame(page) == {"x": 128, "y": -64, "w": 512, "h": 512}

    # Not an image: refused in the page, nothing sent.
    assert drop(page, b"just text", "notes.txt", "text/plain")
    page.wait_for_selector(".toast.bad:has-text('Drop an image file')", timeout=TIMEOUT)
    assert page.is_hidden("#drop-hint") and page.evaluate("() => window.boundless.bounds.empty")

    photo = astronaut[:192, :256]
    assert drop(page, png(photo), "photo.png", "image/png")
    assert page.is_hidden("#drop-hint")
    page.wait_for_function("() => window.boundless.bounds.w === 256", timeout=TIMEOUT)
    assert page.evaluate("() => window.boundless.bounds.box()") == {"x": 128, "y": -64, "w": 256, "h": 192}
    page.wait_for_selector(".toast:has-text('Placed photo.png (256 × 192)')", timeout=TIMEOUT)
    assert page.locator(".toast:has-text('Placing photo.png')").count() == 0  # the outcome took its place
    page.click("#fit")
    settle(page)
    for x, y in [(0, 0), (255, 191), (100, 150)]:
        assert close_to(pixel(page, 128 + x, -64 + y)[:3], photo[y, x]), (x, y)
    assert pixel(page, 128 + 258, 10)[3] == 0 and pixel(page, 125, 10)[3] == 0  # beside the dashed border
    assert page.locator("#history li.head").inner_text().count("photo.png") == 1
    page.screenshot(path=str(shots / "dropped.png"))
    assert page.errors == []


def download(page, button: str) -> tuple[Image.Image, str]:
    """Click an export button; the downloaded PNG, opened, and its file name."""
    with page.expect_download(timeout=TIMEOUT) as info:
        page.click(button)
    data = Path(info.value.path()).read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image, info.value.suggested_filename


def test_export_the_frame_and_the_whole_canvas(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    page.fill("#prompt", "a quiet harbour at dawn")
    page.fill("#seed", "1234")
    page.fill("#expand-by", "256")
    page.click(".expand[data-side='right']")
    page.wait_for_function("() => window.boundless.bounds.w === 768 && !window.boundless.jobs.busy", timeout=TIMEOUT)
    settle(page)
    assert frame(page) == {"x": 256, "y": 0, "w": 512, "h": 512}

    image, name = download(page, "#export-frame")
    assert image.format == "PNG" and image.size == (512, 512) and image.mode == "RGBA", (image.format, image.size, image.mode)
    assert name == "default-256_0_512x512-L0.png"
    pixels = np.asarray(image)
    assert (pixels[..., 3] == 255).all()  # half photo, half painted: all known
    # Far enough from the seam (pad 64): the photo, bit for bit.
    assert (pixels[:, :128, :3] == astronaut[:, 256:384]).all()
    assert "a quiet harbour at dawn" in image.text["parameters"] and "Seed: 1234" in image.text["parameters"]

    whole, name = download(page, "#export-all")
    assert whole.size == (768, 512) and name == "default-0_0_768x512-L0.png"
    everything = np.asarray(whole)
    assert (everything[:, :384, :3] == astronaut[:, :384]).all() and (everything[..., 3] == 255).all()
    assert (everything[:, 256:768] == pixels).all()  # the frame is that part of the whole
    assert "a quiet harbour at dawn" in whole.text["parameters"]
    # The same bytes as the server's export of that rectangle.
    status, _, data = server.http("GET", "/api/canvases/default/export.png?x=256&y=0&w=512&h=512&level=0")
    assert status == 200 and (decode(data) == pixels).all()
    assert page.errors == []
