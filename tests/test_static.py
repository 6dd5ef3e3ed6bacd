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
    # What boot.js fetches at once once the first picture is drawn (app.js and its modules).
    later = set(re.findall(r'"([\w-]+\.js)"', re.search(r"const LATER = \[(.*?)\];", (STATIC / "boot.js").read_text(), re.S).group(1)))
    fetched = [preloaded, entries, later]
    assert imported and entries and later and set.union(*fetched) == imported | entries
    assert sum(map(len, fetched)) == len(set.union(*fetched))  # each fetched one way
    # The first picture waits for no module fetched later: boot.js's graph is preloaded.
    graph, todo = set(), ["boot.js"]
    while todo:
        for name in re.findall(r'^import .* from "\./([\w-]+\.js)";', (STATIC / todo.pop()).read_text(), re.M):
            if name not in graph:
                graph.add(name)
                todo.append(name)
    assert graph and graph <= preloaded
