"""Browser fixtures: one Chromium for the whole session, a fresh context per page."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from browsing import ARGS, CHROMIUM, SHOTS, VIEWPORT, wait_ready


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"the browser tests need Debian's Chromium at {CHROMIUM} (scripts/test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip install -e '.[test]')")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser) -> Callable:
    """`open_page(server, query="", **context_options)`: a page on the client, connected and
    with its tiles drawn, in a context of its own (closed after the test). The page's
    uncaught errors collect in `page.errors`."""
    contexts = []

    def open_(server, query: str = "", **options):
        context = browser.new_context(viewport=VIEWPORT, **options)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(server.base + "/" + query)
        wait_ready(page)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
