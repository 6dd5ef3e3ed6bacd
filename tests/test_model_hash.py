"""A1111's model hash of a single model file: kept in the library's scan cache (hashed once
per machine, not once per start), computed beside the load, never failing a job."""

from __future__ import annotations

import hashlib
import logging

import pytest

from canvas.library.cache import ScanCache
from canvas.painters.diffusion import hashes


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BOUNDLESS_CACHE_DIR", str(tmp_path / "cache"))
    hashes._hash.cache_clear()
    yield tmp_path / "cache"
    hashes._hash.cache_clear()


def test_a_file_is_hashed_once_and_the_digest_kept_in_the_scan_cache(cache_dir, tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights" * 1000)
    whole = hashlib.sha256(model.read_bytes()).hexdigest()
    assert hashes.short_hash(model) == whole[:10]
    stat = model.stat()
    assert ScanCache(cache_dir / "library.json").hash(model.resolve(), stat.st_size, stat.st_mtime_ns, "sha256") == whole

    # A new process (its memo empty) takes the digest from the cache, not from the file:
    # a digest planted there is what comes back.
    planted = ScanCache(cache_dir / "library.json")
    planted.put_hash(model.resolve(), stat.st_size, stat.st_mtime_ns, "sha256", "ab" * 32)
    planted.save()
    hashes._hash.cache_clear()
    hashes._cache.cache_clear()
    assert hashes.short_hash(model) == "ab" * 5

    model.write_bytes(b"other weights" * 1000)  # changed: hashed again
    hashes._hash.cache_clear()
    assert hashes.short_hash(model) == hashlib.sha256(model.read_bytes()).hexdigest()[:10]


def test_a_background_hash_gives_the_digest_or_none_with_a_warning(cache_dir, tmp_path, caplog):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"q8" * 5000)
    assert hashes.FileHash(model).value() == hashlib.sha256(model.read_bytes()).hexdigest()[:10]
    with caplog.at_level(logging.WARNING, logger="boundless.diffusion"):
        assert hashes.FileHash(tmp_path / "gone.safetensors").value() is None
    assert "gone.safetensors" in caplog.text
