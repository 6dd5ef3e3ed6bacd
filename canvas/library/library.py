"""The models library: the user's models folders, scanned, by kind and name.

    library = Library([Path("~/stable-diffusion-webui").expanduser()])   # scans once
    entry = library.find("checkpoint", "sd15/realistic")                # names only, never paths
    library.hash(entry)                                                  # "a1b2c3d4e5", cached
    scan = await asyncio.to_thread(library.rescan)                       # never on the event loop

The current Scan is one immutable object behind one reference: `rescan` builds the next
one aside (one rescan at a time; a second caller waits for it and scans again) and swaps
it in with one assignment, so a reader holding `library.scan` sees the old or the new
one, never half of either, and a job that found its entry keeps it.

Hashes are computed lazily, on first need, and cached: a scan reads only headers, so the
first scan of a few hundred gigabytes takes seconds, not the minutes hashing them would
(sha256 reads every byte, ~1 GB/s on a fast disk); a hash is needed when a job records
its model or LoRAs, and loading that model reads the same bytes anyway. A1111 hashes
lazily for the same reason. An unchanged file is never hashed twice (cache.py).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from canvas.library.cache import ScanCache, default_cache_path
from canvas.library.entry import KINDS, SHORT_HASH, Entry
from canvas.library.errors import LibraryError, NotFound
from canvas.library.hashes import compute, hash_method
from canvas.library.names import check_name
from canvas.library.scan import Scan, scan_folders


class Library:
    def __init__(self, folders: Iterable[Path | str], cache: Path | bool | None = True, scan: bool = True) -> None:
        """`folders`: models folders, earlier ones first when two hold the same name.
        `cache`: True: the user's cache folder (cache.py); a Path: that file; None or
        False: in memory only. `scan`: scan now (else `scan` stays empty until `rescan`)."""
        self.folders = tuple(Path(folder).expanduser().absolute() for folder in folders)
        for folder in self.folders:
            if not folder.is_dir():
                raise LibraryError(f"{folder}: no such folder" if not folder.exists() else f"{folder} is not a folder")
        path = default_cache_path() if cache is True else cache if isinstance(cache, Path) else None
        self.cache = ScanCache(path)
        self._scan = Scan(self.folders, {})
        self._scanning = threading.Lock()  # one scan at a time
        self._swap = threading.Lock()  # read-modify-write of self._scan (a hash learnt)
        self._hashing: dict[Path, threading.Lock] = {}
        if scan:
            self.rescan()

    @property
    def scan(self) -> Scan:
        """The current scan; hold on to it to read several entries from the same one."""
        return self._scan

    def rescan(self, full: bool = False) -> Scan:
        """Scan the folders again (unchanged files from the cache; `full`: read every file)
        and make the result current. Safe from any thread; blocking: run it with
        `asyncio.to_thread` from the event loop."""
        with self._scanning:
            result = scan_folders(self.folders, self.cache, full=full)
            with self._swap:
                self._scan = result
            return result

    def entries(self, kind: str | None = None, family: str | None = None) -> list[Entry]:
        if kind is not None:
            _check_kind(kind)
        return self._scan.list(kind, family)

    def find(self, kind: str, name: str) -> Entry:
        """The scanned entry of this kind and name; BadName or NotFound (one line) otherwise.

        A name without a folder also finds the one entry of that file name in a subfolder:
        A1111 names LoRAs and embeddings by file name alone, so `<lora:ink:0.8>` copied from
        someone's prompt finds `styles/ink`; two such files make it ambiguous (NotFound)."""
        _check_kind(kind)
        scan = self._scan
        entry = scan.find(kind, check_name(name))
        if entry is not None:
            return entry
        if "/" not in name:
            matches = [entry for entry in scan.list(kind) if entry.name.rsplit("/", 1)[-1] == name]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise NotFound(f"{len(matches)} {kind.replace('_', ' ')}s are named {name!r}: "
                               f"say which, {' or '.join(repr(m.name) for m in matches[:4])}")
        raise NotFound(f"no {kind.replace('_', ' ')} named {name!r} in the models library")

    def find_model(self, name: str) -> Entry:
        """The checkpoint or diffusion model named `name` (what a job's `model` names)."""
        try:
            return self.find("checkpoint", name)
        except NotFound as missing:
            try:
                return self.find("diffusion_model", name)
            except NotFound:
                raise NotFound(str(missing).replace("no checkpoint named", "no model named")) from None

    def hash(self, entry: Entry) -> str | None:
        """A1111's short hash of `entry` ("Model hash", a LoRA's shorthash); computed on first
        need (reading the whole file), then cached. None for a diffusers folder."""
        digest = self.sha256(entry)
        return digest[: SHORT_HASH[entry.kind]] if digest else None

    def sha256(self, entry: Entry) -> str | None:
        """The full digest `hash` is the start of."""
        method = hash_method(entry.kind, entry.format)
        if method is None:
            return None
        if entry.sha256:
            return entry.sha256
        with self._swap:
            lock = self._hashing.setdefault(entry.path, threading.Lock())
        with lock:  # two jobs wanting the same hash wait for one reading of the file
            stat = entry.path.stat()
            digest = self.cache.hash(entry.path, stat.st_size, stat.st_mtime_ns, method)
            if digest is None:
                digest = compute(entry.path, method)
                after = entry.path.stat()
                if (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                    self.cache.put_hash(entry.path, stat.st_size, stat.st_mtime_ns, method, digest)
                    self.cache.save()
        with self._swap:
            current = self._scan.find(entry.kind, entry.name)
            if current is not None and current.path == entry.path and current.sha256 is None:
                self._scan = self._scan.with_entry(replace(current, sha256=digest))
        return digest


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise LibraryError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
