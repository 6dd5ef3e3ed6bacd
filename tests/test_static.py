"""The browser client's files, checked without a browser."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "static"


def test_index_preloads_every_module_the_client_imports():
    imported = set()
    for module in STATIC.glob("*.js"):
        imported |= set(re.findall(r'^import .* from "\./([\w-]+\.js)";', module.read_text(), re.M))
        imported |= set(re.findall(r'\bimport\("\./([\w-]+\.js)"\)', module.read_text()))  # loaded later, fetched at once
    index = (STATIC / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([\w-]+\.js)">', index))
    entries = set(re.findall(r'<script type="module" src="([\w-]+\.js)"></script>', index))  # fetched at once too
    assert imported and entries and preloaded | entries == imported | entries and not preloaded & entries
