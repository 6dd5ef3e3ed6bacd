"""Helpers for the browser tests: what the page shows, read back from the client's
<canvas>, and the mouse at level-0 coordinates."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as this machine runs it: no sandbox as root, and no background traffic (the
# network is closed; its connections would only be refused).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
# Screenshots are kept (gitignored) so a person can look at what the tests saw.
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT = 15_000


def wait_ready(page) -> None:
    """Wait until the client is connected, subscribed and its visible tiles are drawn."""
    page.wait_for_function("() => window.boundless && window.boundless.conn.isOpen && window.boundless.subscribed", timeout=TIMEOUT)
    settle(page)


def reload(page) -> None:
    page.reload()
    wait_ready(page)


def settle(page) -> None:
    """Wait until no visible tile waits for pixels, and a frame has been drawn."""
    page.wait_for_function("""() => {
        const app = window.boundless, level = app.view.level(app.topLevel + 4);
        return app.layer.pending(app.view, level) === 0 && !app.drawPending;
    }""", timeout=TIMEOUT)
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def pixel(page, wx: float, wy: float) -> list[int]:
    """RGBA of the canvas element where level-0 pixel (wx, wy) is drawn."""
    return page.evaluate("""([wx, wy]) => {
        const app = window.boundless, [sx, sy] = app.view.toScreen(wx + 0.5, wy + 0.5), r = app.view.ratio;
        return [...app.ctx.getImageData(Math.floor(sx * r), Math.floor(sy * r), 1, 1).data];
    }""", [wx, wy])


def wait_pixel(page, wx: float, wy: float, test: str) -> None:
    """Wait until `test` (a JS expression over `p`, the RGBA array) holds at (wx, wy)."""
    page.wait_for_function(f"""([wx, wy]) => {{
        const app = window.boundless, [sx, sy] = app.view.toScreen(wx + 0.5, wy + 0.5), r = app.view.ratio;
        const p = [...app.ctx.getImageData(Math.floor(sx * r), Math.floor(sy * r), 1, 1).data];
        return {test};
    }}""", arg=[wx, wy], timeout=TIMEOUT)


def screen(page, wx: float, wy: float) -> tuple[float, float]:
    """Page coordinates of a level-0 point (for the mouse)."""
    return tuple(page.evaluate("""([wx, wy]) => {
        const app = window.boundless, [sx, sy] = app.view.toScreen(wx, wy), box = app.canvas.getBoundingClientRect();
        return [box.left + sx, box.top + sy];
    }""", [wx, wy]))


def world(page, px: float, py: float) -> tuple[float, float]:
    """The level-0 point under page coordinates (px, py)."""
    return tuple(page.evaluate("""([px, py]) => {
        const app = window.boundless, box = app.canvas.getBoundingClientRect();
        return app.view.toWorld(px - box.left, py - box.top);
    }""", [px, py]))


def frame(page) -> dict:
    return page.evaluate("() => window.boundless.frame.rect.box()")


def scale(page) -> float:
    return page.evaluate("() => window.boundless.view.scale")


def drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def unfocus(page) -> None:
    """Leave the form fields, so keys go to the canvas's shortcuts."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def status(page) -> str:
    return page.get_attribute("#status", "data-state")


def close_to(a, b, tolerance: int = 3) -> bool:
    return all(abs(float(x) - float(y)) <= tolerance for x, y in zip(a, b, strict=True))


# Each select of the panel whose longest option is wider than the select shows it.
CUT_SELECTS = """() => {
    const cut = [], context = document.createElement("canvas").getContext("2d");
    for (const select of document.querySelectorAll("#settings select")) {
        if (!select.offsetParent) continue;  // hidden
        const style = getComputedStyle(select);
        context.font = `${style.fontSize} ${style.fontFamily}`;
        // The room for text: the select's width less its padding, border and the arrow.
        const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
        for (const option of select.options) {
            const width = context.measureText(option.text).width;
            if (width > room) cut.push(`${select.id}: "${option.text}" needs ${Math.ceil(width)} px, has ${Math.floor(room)}`);
        }
    }
    return cut;
}"""

# The visible controls inside `selector` that something covers: each scrolled into view,
# the element at its centre is neither it nor inside it (a panel's controls, which scroll).
COVERED = """(selector) => {
    const covered = [];
    for (const el of document.querySelectorAll(`${selector} :is(button, input, select, textarea)`)) {
        if (!el.offsetParent) continue;  // hidden
        el.scrollIntoView({block: "center"});
        const r = el.getBoundingClientRect(), hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        if (!hit || !(hit === el || el.contains(hit))) covered.push(`${el.id || el.getAttribute("aria-label") || el.tagName} under ${hit ? hit.id || hit.className || hit.tagName : "nothing"}`);
    }
    return covered;
}"""
