"""The browser client's files, checked without a browser."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "static"


def test_index_preloads_every_module_the_client_imports():
    imported = set()
    for module in STATIC.glob("*.js"):
        imported |= set(re.findall(r'^import .* from "\./([\w-]+\.js)";', module.read_text(), re.M))
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([\w-]+\.js)">', (STATIC / "index.html").read_text()))
    assert imported and preloaded == imported
