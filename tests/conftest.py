"""Shared fixtures: real photos (scikit-image ships them), real canvas files, a real server.
Shared helpers that are not fixtures live in pictures.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from canvas.store import Store
from pictures import photo


def pytest_configure(config) -> None:
    # The models library's scan cache (which also keeps model files' hashes) goes to a
    # folder of this run, never the user's ~/.cache; servers started by tests inherit it.
    config._boundless_cache = tempfile.mkdtemp(prefix="boundless-cache-")
    os.environ.setdefault("BOUNDLESS_CACHE_DIR", config._boundless_cache)


def pytest_unconfigure(config) -> None:
    shutil.rmtree(getattr(config, "_boundless_cache", ""), ignore_errors=True)


@pytest.fixture
def astronaut() -> np.ndarray:
    return photo("astronaut")


@pytest.fixture
def canvas_path(tmp_path: Path) -> Path:
    return tmp_path / "work.canvas"


@pytest.fixture
def store(canvas_path: Path):
    with Store.open(canvas_path) as opened:
        yield opened


@pytest.fixture
def photo_file(tmp_path: Path, astronaut: np.ndarray) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(astronaut).save(path)
    return path


@pytest.fixture
def server(tmp_path: Path):
    """A real server (uvicorn, 127.0.0.1, ephemeral port) on a data folder in tmp_path."""
    from serving import Server

    running = Server(tmp_path / "data")
    yield running
    running.stop()
