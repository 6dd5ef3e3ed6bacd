"""One scan of the models folders: every entry found, and the files that could not be used.

A scan walks each folder's Places (layout.py), reads each weights file's header unless
the cache already knows it, decides each file's kind (its folder's, refined by its
tensors) and gives it a unique name. The result is immutable, so the library swaps a new
one in with one assignment while readers keep the one they hold.

    result = scan_folders([Path("~/ComfyUI").expanduser()], ScanCache(None))
    result.find("checkpoint", "sd15")
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping

from canvas.library.cache import ScanCache
from canvas.library.content import EXTENSIONS, Content, Unreadable, read_content
from canvas.library.entry import KINDS, Entry, Skipped
from canvas.library.hashes import hash_method
from canvas.library.layout import ACCEPTS, DEFAULT_KIND, Place, places
from canvas.library.names import name_of, name_problem
from canvas.painters.diffusion.families import recognise_folder

IGNORED_FOLDERS = {"__pycache__", "node_modules"}


@dataclass(frozen=True)
class Scan:
    folders: tuple[Path, ...]
    entries: Mapping[tuple[str, str], Entry]  # (kind, name) -> entry, in scan order
    skipped: tuple[Skipped, ...] = ()
    read: int = 0  # files whose contents this scan read
    cached: int = 0  # files the cache knew, unread
    seconds: float = 0.0
    finished: float = field(default_factory=time.time)

    def find(self, kind: str, name: str) -> Entry | None:
        return self.entries.get((kind, name))

    def list(self, kind: str | None = None, family: str | None = None) -> list[Entry]:
        return [entry for entry in self.entries.values()
                if (kind is None or entry.kind == kind) and (family is None or entry.family == family)]

    def with_entry(self, entry: Entry) -> "Scan":
        """This scan with one entry replaced (a hash learnt since): a new Scan, this one untouched."""
        return replace(self, entries={**self.entries, (entry.kind, entry.name): entry})


@dataclass(frozen=True)
class _Found:
    path: Path
    relative: PurePosixPath
    pipeline: bool  # a diffusers folder (model_index.json)
    size: int
    mtime_ns: int  # the cache's key, exact
    mtime: float  # what the entry shows, as os.stat gives it


def scan_folders(folders: tuple[Path, ...] | list[Path], cache: ScanCache, full: bool = False) -> Scan:
    """Scan `folders` in order (earlier folders win a name); `full`: read every file again,
    whatever the cache says (hashes of unchanged files are kept: they only depend on the bytes)."""
    started = time.perf_counter()
    entries: dict[tuple[str, str], Entry] = {}
    skipped: list[Skipped] = []
    seen: set[str] = set()
    counts = {"read": 0, "cached": 0}
    # Folders walked, by device and inode: a folder given twice, inside another one given,
    # or linked from elsewhere is walked once, where it was met first.
    visited: set[tuple[int, int]] = set()
    for root in folders:
        for place in places(root):
            for found in _walk(place.folder, place.recursive, visited, skipped):
                seen.add(str(found.path))
                entry = _entry(found, place, root, cache, full, counts, skipped)
                if entry is not None:
                    entry = replace(entry, name=_unique(entry, found, entries))
                    entries[(entry.kind, entry.name)] = entry
    cache.forget_missing(folders, seen)
    cache.save()
    ordered = dict(sorted(entries.items(), key=lambda item: (KINDS.index(item[0][0]), item[0][1].lower())))
    return Scan(tuple(folders), ordered, tuple(skipped), counts["read"], counts["cached"], time.perf_counter() - started)


def _walk(folder: Path, recursive: bool, visited: set[tuple[int, int]], skipped: list[Skipped],
          relative: PurePosixPath = PurePosixPath()) -> Iterator[_Found]:
    """Weights files and diffusers folders under `folder`, in name order; symlinks followed
    once (a link back up the tree is not walked twice)."""
    try:
        identity = os.stat(folder)
        if (identity.st_dev, identity.st_ino) in visited:
            return
        visited.add((identity.st_dev, identity.st_ino))
        children = sorted(os.scandir(folder), key=lambda child: child.name)
    except OSError as exc:
        skipped.append(Skipped(folder, f"cannot list it: {exc.strerror or exc}"))
        return
    for child in children:
        if child.name.startswith(".") or child.name in IGNORED_FOLDERS:
            continue
        path = Path(child.path)
        try:
            is_dir = child.is_dir()
            if is_dir:
                if not recursive:
                    continue
                if (path / "model_index.json").is_file():
                    yield _pipeline(path, relative / child.name)
                elif (path / "config.json").is_file() and any(path.glob("diffusion_pytorch_model*")):
                    skipped.append(Skipped(path, "one component of a diffusers pipeline: give the pipeline's folder"))
                else:
                    yield from _walk(path, recursive, visited, skipped, relative / child.name)
            elif child.name.lower().endswith(EXTENSIONS):
                stat = child.stat()
                yield _Found(path, relative / child.name, False, stat.st_size, stat.st_mtime_ns, stat.st_mtime)
        except OSError as exc:
            skipped.append(Skipped(path, f"cannot read it: {exc.strerror or exc}"))


def _pipeline(folder: Path, relative: PurePosixPath) -> _Found:
    size, newest, mtime = 0, 0, 0.0
    for parent, _, files in os.walk(folder):
        for name in files:
            stat = os.stat(os.path.join(parent, name))
            size += stat.st_size
            if stat.st_mtime_ns > newest:
                newest, mtime = stat.st_mtime_ns, stat.st_mtime
    return _Found(folder, relative, True, size, newest, mtime)


def _entry(found: _Found, place: Place, root: Path, cache: ScanCache, full: bool, counts: dict[str, int],
           skipped: list[Skipped]) -> Entry | None:
    """The entry for one file or diffusers folder, or None (noted in `skipped`)."""
    problem = name_problem(name_of(found.relative, not found.pipeline))
    if problem is not None:
        skipped.append(Skipped(found.path, f"its name cannot be used: {problem}"))
        return None
    if found.pipeline:
        family = recognise_folder(found.path)
        if place.holds not in (None, "model") or family is None:
            skipped.append(Skipped(found.path, "a diffusers folder of no family the painter knows" if family is None
                                   else f"a diffusers pipeline in a {place.holds} folder"))
            return None
        return Entry(name_of(found.relative, False), "checkpoint", family.key, found.path, "diffusers", found.size,
                     found.mtime, root)
    content = None if full else cache.content(found.path, found.size, found.mtime_ns)
    if content is None:
        try:
            content = read_content(found.path)
        except Unreadable as exc:
            content = Content(None, None, "unreadable", reason=str(exc).removeprefix(f"{found.path}: "))
            lasting = exc.lasting
        else:
            lasting = True
        if lasting:
            cache.put_content(found.path, found.size, found.mtime_ns, content)
        counts["read"] += 1
    else:
        counts["cached"] += 1
    kind, family = _kind(content, place)
    if kind is None:
        skipped.append(Skipped(found.path, content.reason or "not a model, LoRA, embedding or VAE"))
        return None
    method = hash_method(kind, content.format)
    digest = cache.hash(found.path, found.size, found.mtime_ns, method) if method else None
    if digest is None and method == "addnet":
        digest = content.stored_hash
    return Entry(name_of(found.relative, True), kind, family, found.path, content.format, found.size,
                 found.mtime, root, digest)


def _kind(content: Content, place: Place) -> tuple[str | None, str | None]:
    """(kind, family): a plain folder's files are what their tensors say; a kind folder's are
    of its kind, with the family only if their tensors agree (a LoRA of a format we cannot
    read is still a LoRA). Unreadable files, and model-folder files no family knows, are skipped."""
    if content.format == "unreadable":
        return None, None
    if place.holds is None:
        return content.kind, content.family
    if content.kind in ACCEPTS[place.holds]:
        return content.kind, content.family
    if place.holds == "model":
        return None, None
    return DEFAULT_KIND[place.holds], None


def _unique(entry: Entry, found: _Found, taken: Mapping[tuple[str, str], Entry]) -> str:
    """The entry's name, made unique in its kind: a later file of the same name keeps its
    extension ("sd15.ckpt" beside "sd15"), then gets a number ("sd15~2")."""
    if (entry.kind, entry.name) not in taken:
        return entry.name
    candidate = str(found.relative) if not found.pipeline else entry.name
    number = 2
    while (entry.kind, candidate) in taken:
        candidate = f"{entry.name}~{number}"
        number += 1
    return candidate
