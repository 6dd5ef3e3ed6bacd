"""Nothing covers a control: wherever the frame is, with candidates to choose from and a
job's bar up, every visible control can be clicked (the element at its centre is the
control itself), and every select's options can be read in the panel's width."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from browsing import COVERED, CUT_SELECTS, TIMEOUT, settle
from serving import FillLikePainter, Server, TintPainter, png

# Every control over the canvas, and whether it is visible (its centre inside the stage).
CONTROLS = """() => {
    const stage = document.getElementById("stage").getBoundingClientRect();
    const controls = [...document.querySelectorAll(".expand, .frame .handle, #candidates-bar button, #job-bar button")];
    const name = (el) => el.id ? `#${el.id}` : el.dataset.side ? `expand ${el.dataset.side}` : `handle ${el.dataset.handle}`;
    const found = [];
    for (const el of controls) {
        if (el.closest("[hidden]")) continue;
        const r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
        const inside = x >= stage.left && x < stage.right && y >= stage.top && y < stage.bottom;
        const hit = document.elementFromPoint(x, y);
        found.push({name: name(el), inside, clickable: Boolean(hit) && (hit === el || el.contains(hit)),
                    hit: hit ? (hit.id || hit.className || hit.tagName) : null});
    }
    return found;
}"""

class Long(FillLikePainter):
    label = "FLUX.1 Fill · flux1-fill-dev"  # a painter's label as a real model gives it


@pytest.fixture
def choosing(open_page, tmp_path: Path):
    """A page whose canvas holds a photo, with a job's two candidates waiting for a pick
    (the candidates bar and the job bar up)."""
    server = Server(tmp_path / "data", painters={"fill": Long(), "tint": TintPainter()})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(np.full((512, 512, 3), 120, np.uint8)))[0] == 201
        page = open_page(server)
        page.fill("#candidates", "2")
        page.click(".expand[data-side='right']")
        page.wait_for_selector("#candidates-bar:not([hidden])", timeout=TIMEOUT)
        page.wait_for_selector("#job-bar:not([hidden])", timeout=TIMEOUT)
        yield page
    finally:
        server.stop()


VIEWS = {
    "fitted": "app.view.fit(app.bounds)",
    "close": "app.view.setCamera(128, 128, 2)",  # the picture bigger than the view: the arrows at its edges
    "below": "app.view.setCamera(-200, -190, 1)",  # the picture's bottom edge near the view's bottom: its arrow by the bars
}
EDGES = ("left", "right", "top", "bottom")
HANDLES = {f"handle {h}" for h in ("n", "s", "e", "w", "ne", "nw", "se", "sw")}


def place_frame(page, edge: str) -> None:
    """The frame flush with one edge of the view, centred along it: 512 px, or 256 when
    512 would not fit in the view."""
    page.evaluate("""(edge) => {
        const app = window.boundless, v = app.view, R = app.frame.rect.constructor;
        const wanted = 512 * v.scale < Math.min(v.width, v.height) ? 512 : 256, side = wanted * v.scale;
        const sx = {left: 0, right: v.width - side}[edge] ?? (v.width - side) / 2;
        const sy = {top: 0, bottom: v.height - side}[edge] ?? (v.height - side) / 2;
        const [x, y] = v.toWorld(sx, sy);
        app.frame.set(new R(Math.round(x), Math.round(y), wanted, wanted));
    }""", edge)


def test_every_visible_control_can_be_clicked_wherever_the_frame_is(choosing, shots: Path):
    page = choosing
    cut = page.evaluate(CUT_SELECTS)
    assert cut == [], cut
    covered = []
    for view, camera in VIEWS.items():
        page.evaluate(f"() => {{ const app = window.boundless; {camera}; }}")
        for edge in EDGES:
            place_frame(page, edge)
            settle(page)
            controls = page.evaluate(CONTROLS)
            # The bars' buttons, and all eight handles of the frame in view, are there to click.
            names = {c["name"] for c in controls if c["inside"]}
            assert {"#cand-prev", "#cand-next", "#cand-accept", "#cand-discard", "#cancel"} <= names, names
            assert HANDLES <= names, (view, edge, names)
            for control in controls:
                if not (control["inside"] and control["clickable"]):
                    covered.append((view, edge, control))
            page.screenshot(path=str(shots / f"controls-{view}-{edge}.png"))
    assert covered == [], "\n".join(map(str, covered))
    # The panel's controls too (the models library's: tests/browser/test_models_picker.py).
    assert page.evaluate(COVERED, "#settings") == []
    assert page.errors == []
