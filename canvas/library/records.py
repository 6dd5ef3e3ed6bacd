"""What a job's record (its revision's params, and so an exported PNG's `parameters`) says
of the models it painted with, A1111's way: the model's library name and hash ("Model",
"Model hash") and each LoRA's hash ("Lora hashes").

    models_record(library, request, "sd15/realistic")
    # {"model": "sd15/realistic", "model_hash": "a1b2c3d4e5", "loras": {"ink": "0123456789ab"}}

Hashes read whole files the first time (then the scan cache keeps them): call this from a
job's thread, never the event loop.
"""

from __future__ import annotations

from typing import Any

from canvas.library.errors import LibraryError
from canvas.library.library import Library
from canvas.painters.base import PaintRequest
from canvas.painters.diffusion.lora_tags import LoraTagError, parse_lora_tags


def models_record(library: Library | None, request: PaintRequest, default_model: str | None) -> dict[str, Any]:
    """`model`, `family` and `model_hash` of the job's model (the request's, else
    `default_model`, the painter's own) when the library has it, and `loras` {name as the
    prompt writes it: A1111's short hash}; {} without a library."""
    if library is None:
        return {}
    record: dict[str, Any] = {}
    name = request.model or default_model
    if name:
        try:
            entry = library.find_model(name)
        except LibraryError:
            entry = None
        if entry is not None:
            record["model"] = entry.name
            if request.model:
                record["family"] = entry.family
            digest = library.hash(entry)
            if digest:
                record["model_hash"] = digest
    try:
        tags = parse_lora_tags(request.prompt).loras
    except LoraTagError:
        tags = ()
    loras = {}
    for tag in tags:
        if tag.inactive:
            continue
        try:
            loras[tag.name] = library.hash(library.find("lora", tag.name)) or ""
        except LibraryError:
            continue
    if loras:
        record["loras"] = loras
    return record
