"""Zooming with a pinch (touchpad and touch screen), and the frame's handles and presets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from browsing import close_to, drag, frame, pixel, scale, screen, settle, world
from serving import Server, png


def touch_pinch(cdp, points: list[tuple[float, float]], spread: tuple[float, float], steps: int = 8) -> None:
    """Two fingers down at `points` (page px), each moved straight away from their
    midpoint until their distance went from spread[0] to spread[1], then lifted."""
    (ax, ay), (bx, by) = points
    mx, my = (ax + bx) / 2, (ay + by) / 2
    ux, uy = (bx - ax) / np.hypot(bx - ax, by - ay), (by - ay) / np.hypot(bx - ax, by - ay)

    def fingers(d: float) -> list[dict]:
        return [{"x": mx - ux * d / 2, "y": my - uy * d / 2, "id": 1}, {"x": mx + ux * d / 2, "y": my + uy * d / 2, "id": 2}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers(spread[0])})
    for i in range(1, steps + 1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": fingers(spread[0] + (spread[1] - spread[0]) * i / steps)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def assert_anchored(page, point: tuple[float, float], under: tuple[float, float], tolerance: float) -> None:
    """The level-0 point `under` is still under page point `point` (within `tolerance` level-0 px)."""
    now = world(page, *point)
    assert abs(now[0] - under[0]) <= tolerance and abs(now[1] - under[1]) <= tolerance, (now, under)


def test_pinch_zooms_around_the_fingers_on_a_touchpad_and_a_touch_screen(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server, has_touch=True)
    cdp = page.context.new_cdp_session(page)
    assert scale(page) == 1

    # A touchpad pinch: Chromium delivers it as wheel events with ctrlKey. Over the photo,
    # left of the frame (which straddles its right border): the point under it stays put.
    at = screen(page, 120, 200)
    under = world(page, *at)
    cdp.send("Input.synthesizePinchGesture", {"x": at[0], "y": at[1], "scaleFactor": 2, "gestureSourceType": "mouse"})
    page.wait_for_function("() => window.boundless.view.scale > 1.7")
    assert 1.8 <= scale(page) <= 2.2, scale(page)  # the content follows the fingers
    assert_anchored(page, at, under, 1)
    cdp.send("Input.synthesizePinchGesture", {"x": at[0], "y": at[1], "scaleFactor": 0.5, "gestureSourceType": "mouse"})
    page.wait_for_function("() => Math.abs(window.boundless.view.scale - 1) < 0.02")
    assert_anchored(page, at, under, 1)

    # Two fingers on the photo, spread from 100 to 200 px apart: twice the zoom, the
    # point between them stays between them, and the photo is drawn at the new scale.
    start = scale(page)
    mid = screen(page, 120, 300)
    under = world(page, *mid)
    touch_pinch(cdp, [(mid[0] - 50, mid[1]), (mid[0] + 50, mid[1])], (100, 200))
    assert scale(page) == pytest.approx(2 * start, rel=0.02)
    assert_anchored(page, mid, under, 1)
    settle(page)
    assert close_to(pixel(page, 130, 310)[:3], astronaut[310, 130])
    page.screenshot(path=str(shots / "pinched.png"))

    # Fingers that land on the frame pinch too: the frame stays where it was.
    before = frame(page)
    page.evaluate("() => window.boundless.view.fit(window.boundless.frame.rect)")
    settle(page)
    centre = screen(page, before["x"] + 256, before["y"] + 256)
    under = world(page, *centre)
    start = scale(page)
    touch_pinch(cdp, [(centre[0] - 40, centre[1] - 40), (centre[0] + 40, centre[1] + 40)], (113, 56))
    assert scale(page) == pytest.approx(start / 2, rel=0.03)
    assert_anchored(page, centre, under, 2)
    assert frame(page) == before

    # One finger on the frame, the other beside it on the canvas: a pinch as well; with
    # the brush, the first finger's dab is taken back.
    page.click("[data-tool='brush']")
    start = scale(page)
    left = screen(page, before["x"] + 40, before["y"] + 256)
    touch_pinch(cdp, [left, (left[0] - 80, left[1])], (80, 160))
    assert scale(page) == pytest.approx(2 * start, rel=0.03)
    assert frame(page) == before
    assert page.evaluate("() => window.boundless.brush.bytes()") is None
    page.click("[data-tool='move']")

    # One finger alone drags the frame, as the mouse does.
    page.evaluate("() => window.boundless.view.fit(window.boundless.frame.rect)")
    settle(page)
    grab = screen(page, before["x"] + 256, before["y"] + 256)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": grab[0], "y": grab[1], "id": 1}]})
    for i in range(1, 5):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": grab[0] + 16 * i, "y": grab[1] + 8 * i, "id": 1}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert frame(page) == {**before, "x": before["x"] + 64, "y": before["y"] + 32}
    assert page.errors == []


def handle(page, name: str) -> tuple[float, float]:
    """Page coordinates of the centre of the frame's handle `name` (n, se, ...)."""
    box = page.locator(f".handle-{name}").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def frame_on_screen(page) -> bool:
    """The frame element covers its rectangle on screen (to the pixel: what a person sees)."""
    box, rect = page.locator(".frame").bounding_box(), frame(page)
    (x0, y0), (x1, y1) = screen(page, rect["x"], rect["y"]), screen(page, rect["x"] + rect["w"], rect["y"] + rect["h"])
    return close_to([box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]], [x0, y0, x1, y1], 1)


def test_frame_handles_resize_in_64_px_steps_and_presets_keep_the_centre(open_page, server: Server, shots: Path):
    page = open_page(server)
    # An empty canvas: the frame at the origin, fitted at 1:1; nothing to snap to.
    assert frame(page) == {"x": 0, "y": 0, "w": 512, "h": 512} and scale(page) == 1

    def pull(name: str, dx: float, dy: float) -> dict:
        x, y = handle(page, name)
        drag(page, (x, y), (x + dx, y + dy))
        return frame(page)

    # The east edge: 40 px more is 552, the nearest step of 64 is 576; 20 px rounds back.
    assert pull("e", 40, 0) == {"x": 0, "y": 0, "w": 576, "h": 512}
    assert pull("e", -20, 0) == {"x": 0, "y": 0, "w": 576, "h": 512}
    assert pull("e", -40, 0) == {"x": 0, "y": 0, "w": 512, "h": 512}
    # A corner moves two edges; the opposite corner stays.
    assert pull("se", 130, 70) == {"x": 0, "y": 0, "w": 640, "h": 576}
    assert pull("nw", -100, 50) == {"x": -128, "y": 64, "w": 768, "h": 512}
    assert pull("n", 0, -200) == {"x": -128, "y": -128, "w": 768, "h": 704}
    # Never below 128 px a side.
    assert pull("w", 700, 0) == {"x": 512, "y": -128, "w": 128, "h": 704}
    assert frame_on_screen(page) and page.inner_text(".frame-size") == "128 × 704"

    # At half the zoom, one step of 64 level-0 px is 32 screen px.
    page.evaluate("() => window.boundless.view.zoomAt(400, 300, 0.5)")
    settle(page)  # the frame is laid out at the new zoom on the next frame
    assert pull("s", 0, 20) == {"x": 512, "y": -128, "w": 128, "h": 768}
    page.screenshot(path=str(shots / "frame-resized.png"))

    # Presets: square, around the same centre (576, 256).
    for side in (768, 1024, 512):
        page.click(f"[data-preset='{side}']")
        assert frame(page) == {"x": 576 - side // 2, "y": 256 - side // 2, "w": side, "h": side}
        assert frame_on_screen(page)
        assert page.inner_text(".frame-size") == f"{side} × {side}"
    assert page.errors == []
