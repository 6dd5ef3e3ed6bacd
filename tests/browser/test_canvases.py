"""The canvas picker: list, create, switch, rename and delete canvases from the top bar;
the default canvas cannot be renamed or deleted; other viewers follow a rename or delete."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from browsing import TIMEOUT, close_to, frame, pixel, screen, drag, wait_ready
from serving import Server, png


def names(server: Server) -> list[str]:
    status, _, body = server.http("GET", "/api/canvases")
    assert status == 200
    return [c["name"] for c in json.loads(body)["canvases"]]


def open_menu(page) -> None:
    page.click("#canvas-button")
    page.wait_for_selector("#canvas-list li", timeout=TIMEOUT)
    assert page.get_attribute("#canvas-button", "aria-expanded") == "true"


def row(page, name: str):
    return page.locator("#canvas-list li", has=page.locator(f"a.picker-name:text-is('{name}')"))


def opened(page, name: str) -> None:
    """Wait until the page shows canvas `name`, connected."""
    page.wait_for_url(re.compile(rf"\?canvas={name}$"), timeout=TIMEOUT)
    wait_ready(page)
    assert page.inner_text("#canvas-name") == name and page.title() == f"{name} · Boundless"


def test_create_switch_rename_and_delete_canvases(open_page, server: Server, astronaut: np.ndarray, shots: Path):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0&name=photo.png", png(astronaut))[0] == 201
    page = open_page(server)
    assert page.inner_text("#canvas-name") == "default"
    assert close_to(pixel(page, 100, 100)[:3], astronaut[100, 100])

    # The list: one canvas, the default, which can be neither renamed nor deleted.
    open_menu(page)
    assert page.locator("#canvas-list li").count() == 1
    default = row(page, "default")
    assert default.locator("a").get_attribute("aria-current") == "page"
    assert "default" in default.locator(".picker-meta").inner_text()
    assert default.locator("[data-action='rename']").is_disabled() and default.locator("[data-action='delete']").is_disabled()
    assert page.evaluate("() => document.activeElement.textContent") == "default"  # the keyboard starts there

    # Names are checked as the server checks them; a refusal shows the server's message.
    page.fill("#canvas-new", "my sketch")
    page.press("#canvas-new", "Enter")
    assert "not a valid name" in page.inner_text("#canvas-error")
    page.fill("#canvas-new", "default")
    page.press("#canvas-new", "Enter")
    page.wait_for_selector("#canvas-error:has-text('exists already')", timeout=TIMEOUT)
    assert names(server) == ["default"]
    page.screenshot(path=str(shots / "picker.png"))

    # Create: the page opens the new, empty canvas.
    page.fill("#canvas-new", "sketch")
    page.press("#canvas-new", "Enter")
    opened(page, "sketch")
    assert names(server) == ["default", "sketch"]
    assert page.is_visible("#empty-hint") and pixel(page, 100, 100)[3] == 0
    drag(page, screen(page, 256, 256), screen(page, 256 + 64, 256))  # a frame of its own, kept per canvas
    assert frame(page) == {"x": 64, "y": 0, "w": 512, "h": 512}
    other = open_page(server, "?canvas=sketch")

    # Rename the current canvas from its row: this page and the other viewer follow it.
    open_menu(page)
    row(page, "sketch").locator("[data-action='rename']").click()
    field = page.locator("#canvas-list li.editing input")
    assert field.input_value() == "sketch" and page.evaluate("() => document.activeElement.tagName") == "INPUT"
    field.fill("sketch-2")
    page.screenshot(path=str(shots / "picker-rename.png"))
    field.press("Enter")
    opened(page, "sketch-2")
    assert names(server) == ["default", "sketch-2"]
    assert frame(page) == {"x": 64, "y": 0, "w": 512, "h": 512}  # the frame came along
    opened(other, "sketch-2")

    # Switch with the keyboard: down to the default canvas's link, Enter.
    open_menu(page)
    assert page.evaluate("() => document.activeElement.textContent") == "sketch-2"
    page.keyboard.press("ArrowUp")
    assert page.evaluate("() => document.activeElement.textContent") == "default"
    page.keyboard.press("Enter")
    opened(page, "default")
    assert close_to(pixel(page, 100, 100)[:3], astronaut[100, 100])

    # Escape closes the menu and gives the focus back to its button.
    open_menu(page)
    page.keyboard.press("Escape")
    assert page.is_hidden("#canvas-menu") and page.evaluate("() => document.activeElement.id") == "canvas-button"

    # Delete another canvas: asked first; "Keep" keeps it.
    open_menu(page)
    row(page, "sketch-2").locator("[data-action='delete']").click()
    assert "Delete “sketch-2”? This cannot be undone." in page.inner_text("#canvas-list li.editing")
    page.screenshot(path=str(shots / "picker-delete.png"))
    page.click("#canvas-list li.editing button:text-is('Keep')")
    assert names(server) == ["default", "sketch-2"] and page.locator("#canvas-list li.editing").count() == 0
    row(page, "sketch-2").locator("[data-action='delete']").click()
    page.click("#canvas-list li.editing button.danger")
    page.wait_for_function("() => document.querySelectorAll('#canvas-list li').length === 1", timeout=TIMEOUT)
    assert names(server) == ["default"]
    # Its viewer is told, and taken to the default canvas.
    other.wait_for_selector(".toast:has-text('This canvas was deleted')", timeout=TIMEOUT)
    other.wait_for_url(server.base + "/", timeout=TIMEOUT)
    wait_ready(other)
    assert other.inner_text("#canvas-name") == "default"

    # The default canvas stays: the server refuses, as the disabled buttons say.
    status, _, body = server.http("DELETE", "/api/canvases/default")
    assert status == 409 and json.loads(body)["error"]["code"] == "default_canvas"
    assert page.errors == [] and other.errors == []


def test_deleting_the_open_canvas_leads_to_the_default_and_a_missing_one_says_so(open_page, server: Server):
    assert server.http("POST", "/api/canvases", {"name": "scratch"})[0] == 201
    page = open_page(server, "?canvas=scratch")
    open_menu(page)
    row(page, "scratch").locator("[data-action='delete']").click()
    assert page.evaluate("() => document.activeElement.textContent") == "Keep"  # the safe answer first
    page.click("#canvas-list li.editing button.danger")
    page.wait_for_url(server.base + "/", timeout=TIMEOUT)
    wait_ready(page)
    assert page.inner_text("#canvas-name") == "default" and names(server) == ["default"]

    # A canvas that is not there: the page says so, and the picker leads back.
    page.goto(server.base + "/?canvas=scratch")
    page.wait_for_function("() => document.querySelector('#status').dataset.state === 'stopped'", timeout=TIMEOUT)
    assert page.inner_text("#status-text") == "Disconnected" and page.is_visible("#reconnect")
    page.wait_for_selector(".toast.bad:has-text(\"no canvas named 'scratch'\")", timeout=TIMEOUT)
    open_menu(page)
    assert page.locator("#canvas-list a[aria-current]").count() == 0  # not in the list
    page.click("#canvas-list a:text-is('default')")
    opened(page, "default")
    assert page.errors == []
