"""What a job's record (its revision's params, and so an exported PNG's `parameters`) says
of the models it painted with, A1111's way: the model's library name and hash ("Model",
"Model hash"), each LoRA's hash ("Lora hashes") and each textual-inversion embedding's
("TI hashes").

    models_record(library, request, painter, prompts=["legs"])
    # {"model": "sd15/realistic", "model_hash": "a1b2c3d4e5", "loras": {"ink": "0123456789ab"},
    #  "embeddings": {"EasyNegative": "c74b4e810b03"}}

A job uses an embedding when its name is in the prompt (LoRA tags aside) or the negative
prompt, case-blind, anywhere: as the tokenizer matches it (diffusers adds the name as a
token of its own, found inside any word), and as A1111 lists it, the embeddings its
encoder met. The embeddings a painter has are those it says it loaded (`embedding_files`,
its default model's) and, for a job naming another model, the library's of that model's
family. Hashes read whole files the first time (then the scan cache keeps them): call
this from a job's thread, never the event loop.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

from canvas.library.entry import SHORT_HASH, Entry
from canvas.library.errors import LibraryError
from canvas.library.hashes import file_sha256
from canvas.library.library import Library
from canvas.painters.base import PaintRequest
from canvas.painters.diffusion.families import FAMILIES
from canvas.painters.diffusion.lora_tags import LoraTagError, painter_family, parse_lora_tags


def models_record(library: Library | None, request: PaintRequest, painter: Any,
                  prompts: Iterable[str] = ()) -> dict[str, Any]:
    """`model`, `family` and `model_hash` of the job's model (the request's, else the
    painter's own) when the library has it; `loras` {name as the prompt writes it: A1111's
    short hash} of the LoRA tags in the prompt and in `prompts` (a grow's or a zoom-out's
    stage prompts); `embeddings` {name: short hash} of the embeddings they name."""
    record: dict[str, Any] = {}
    default = painter.describe().get("model")
    name = request.model or default
    family = painter_family(painter)
    entry = _model(library, name) if name else None
    if entry is not None and library is not None:
        record["model"] = entry.name
        if request.model:
            record["family"] = family = entry.family
        digest = library.hash(entry)
        if digest:
            record["model_hash"] = digest
    texts = list(dict.fromkeys((request.prompt, *prompts)))
    stripped = []
    loras: dict[str, str] = {}
    for text in texts:
        try:
            tagged = parse_lora_tags(text)
        except LoraTagError:
            stripped.append(text)
            continue
        stripped.append(tagged.prompt)
        for tag in tagged.loras:
            if tag.inactive or library is None:
                continue
            try:
                loras[tag.name] = library.hash(library.find("lora", tag.name)) or ""
            except LibraryError:
                continue
    if loras:
        record["loras"] = loras
    # The painter's own embeddings are its default model's; another model has the library's of its family.
    same = not request.model or request.model == default or (entry is not None and entry.name == default)
    own = (getattr(painter, "embedding_files", None) or {}) if same else {}
    used = used_embeddings(library, own, family, [*stripped, request.negative_prompt])
    if used:
        record["embeddings"] = used
    return record


def used_embeddings(library: Library | None, files: Mapping[str, str], family: str | None,
                    texts: Iterable[str]) -> dict[str, str]:
    """{name: A1111's short hash} of the embeddings named in `texts`, from `files` ({name:
    file}, a painter's) and the library's embeddings of `family` (None: any), in the order
    the painter loads them (its own first; a name loads once, the first file's)."""
    text = "\n".join(texts).lower()
    # Only our own loop (SD 1.x, 2.x, XL) loads textual inversions; the other families' text encoders take none.
    takes = family not in FAMILIES or FAMILIES[family].own_loop
    library_files = {} if library is None or not takes else {
        entry.path: entry for entry in library.entries("embedding")
        if entry.family is None or family is None or entry.family == family}
    found: dict[str, Path] = {}
    for name, path in [*files.items(), *((entry.path.stem, entry.path) for entry in library_files.values())]:
        if name.lower() in text and not any(name.lower() == seen.lower() for seen in found):
            found[name] = Path(path)
    used = {}
    for name, path in found.items():
        entry = library_files.get(path)
        try:
            digest = library.hash(entry) if library is not None and entry is not None else _file_hash(path)
        except (OSError, LibraryError):
            continue  # gone since it loaded: the prompt still names it, the record has no hash for it
        if digest:
            used[name] = digest[: SHORT_HASH["embedding"]]
    return used


def _model(library: Library | None, name: str) -> Entry | None:
    if library is None:
        return None
    try:
        return library.find_model(name)
    except LibraryError:
        return None


_hashes: dict[tuple[Path, int, int], str] = {}  # embeddings given outside a library: {(path, size, mtime): sha256}
_hashing = threading.Lock()


def _file_hash(path: Path) -> str:
    """A1111's sha256 of an embedding file outside the library, once per process while it is unchanged
    (embeddings are kilobytes: no scan cache needed)."""
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    with _hashing:
        if key not in _hashes:
            _hashes[key] = file_sha256(path)
        return _hashes[key]
