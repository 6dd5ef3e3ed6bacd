"""The repository's own map (docs/architecture.md) names only what exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
COMING: set[str] = set()  # paths the map may name before they exist (a branch not merged yet)


def test_the_map_names_only_files_and_folders_that_exist():
    text = ARCHITECTURE.read_text()
    paths = set(re.findall(r"\b((?:canvas|tiler|static|tests|bench|scripts|docs)/[\w./-]*)", text)) - COMING
    assert len(paths) > 20
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []
    # A section headed by a folder ("### `canvas/store/`: ...") names modules found under it.
    sections = re.findall(r"^### `([\w/]+/)`[^\n]*\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert len(sections) >= 6
    for folder, body in sections:
        modules = set(re.findall(r"`([\w.]+\.(?:py|js))`", body))
        assert modules, folder
        assert sorted(m for m in modules if not any((ROOT / folder).rglob(m))) == [], folder
