"""The models library as the server offers it: what `welcome` and `models.changed` list
(names, kinds, families, sizes; never a path), the `rescan`, and the check of a job's
`model` and LoRA tags before it is queued, so a typo is a typed error and nothing waits.

    listing(library)        # {"models": [{"name", "kind", "family", "label", "size"}, ...], "loras": [...]}
    families()              # {"sd1": {"label", "uses", "defaults", "window"}, ...}: what a model's family changes
    check_job(state, "diffusion", request)      # ApiError unknown_model / unknown_lora / bad_lora
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Iterable

from canvas.library import BadName, Entry, Library, LibraryError, NotFound
from canvas.painters.base import PaintRequest
from canvas.painters.diffusion.families import FAMILIES, Family
from canvas.painters.diffusion.lora_tags import LoraTagError, find_loras, painter_family, parse_lora_tags
from canvas.server.errors import ApiError, conflict

if TYPE_CHECKING:
    from canvas.server.state import ServerState

MODEL_KINDS = ("checkpoint", "diffusion_model")


def listing(library: Library | None) -> dict[str, list[dict[str, Any]]]:
    """`models` (checkpoints and diffusion models, by family in the painter's order, then
    name) and `loras` (likewise); empty lists without a library."""
    if library is None:
        return {"models": [], "loras": []}
    scan = library.scan
    models = [entry for kind in MODEL_KINDS for entry in scan.list(kind)]
    return {"models": [_item(entry) for entry in _ordered(models)],
            "loras": [_item(entry) for entry in _ordered(scan.list("lora"))]}


def families() -> dict[str, dict[str, Any]]:
    """`welcome.families`: each family's label, the settings its models use, their defaults
    and the window of a job that names one of its models and gives none (what `defaults_for`
    and `windows_for` apply), so the panel shows what such a job gets."""
    return {key: {"label": family.label, "uses": list(family.uses), "defaults": family.defaults,
                  "window": family_window(family)} for key, family in FAMILIES.items()}


def family_window(family: Family) -> int:
    """The default window of a job naming a model of `family`: its native size, within 512..1024."""
    return min(1024, max(512, family.native // 64 * 64))


def _ordered(entries: list[Entry]) -> list[Entry]:
    order = list(FAMILIES)
    return sorted(entries, key=lambda e: (order.index(e.family) if e.family in order else len(order), e.name.lower()))


def _item(entry: Entry) -> dict[str, Any]:
    return {"name": entry.name, "kind": entry.kind, "family": entry.family, "label": entry.family_label,
            "size": entry.size}


async def rescan(state: "ServerState") -> dict[str, Any]:
    """Scan the folders again (in a thread), tell every client on every canvas."""
    if state.library is None:
        raise conflict("no_library", "this server has no models library: start it with --models DIR")
    await asyncio.to_thread(state.library.rescan)
    found = listing(state.library)
    for canvas in list(state.broadcaster.clients):
        state.broadcaster.send(canvas, {"type": "models.changed", **found})
    return found


def windows_for(state: "ServerState", message: dict[str, Any]) -> dict[str, int]:
    """The served painters' default windows for this command: a job naming a model of
    another family gets that family's native window (SDXL's 1024 on an SD 1.5 server)."""
    windows = dict(state.windows)
    named = _named_family(state, message)
    if named is not None:
        painter, family = named
        windows[painter] = family_window(family)
    return windows


def defaults_for(state: "ServerState", message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The served painters' steps, guidance and strength for this command's settings left
    out: a job naming a model of another family gets that family's (FLUX.1 Fill's 50 steps
    at guidance 30 on an SD server)."""
    defaults = dict(state.defaults)
    named = _named_family(state, message)
    if named is not None:
        painter, family = named
        defaults[painter] = family.defaults
    return defaults


def _named_family(state: "ServerState", message: dict[str, Any]) -> tuple[str, Family] | None:
    """(painter, family) of the library model a command names in `params.model`, or None."""
    params = message.get("params")
    if state.library is None or not isinstance(params, dict) or not isinstance(params.get("model"), str):
        return None
    try:
        family = state.library.find_model(params["model"]).family
    except LibraryError:
        return None  # check_job says why
    if family not in FAMILIES:
        return None
    painter = params.get("painter") if isinstance(params.get("painter"), str) else next(iter(state.painters))
    return painter, FAMILIES[family]


def check_job(state: "ServerState", painter: str, request: PaintRequest, prompts: Iterable[str] = ()) -> None:
    """A job's `model` and the LoRA tags of its prompt and of every other prompt it carries
    (`prompts`: a zoom-out's schedule, a grow's stage prompts), against the library and the
    model's family; ApiError with a one-line reason otherwise. Nothing is queued before
    every prompt has passed: a tag the painter would refuse at stage three must not cost
    two stages of painting first."""
    profile = state.painters[painter]
    models = getattr(profile, "name", "") == "diffusion"
    if request.model is not None and not models:
        raise ApiError("bad_params", f"painter {painter!r} paints without a model: `model` is for the diffusion painter")
    if not models:
        return
    library = state.library
    family = painter_family(profile)
    named = "the painter's model"
    if request.model is not None:
        if library is None:
            raise ApiError("unknown_model", "this server has no models library (start it with --models DIR): "
                           "jobs paint with its one model")
        try:
            entry = library.find_model(request.model)
        except BadName as exc:
            raise ApiError("bad_name", str(exc)) from None
        except NotFound as exc:
            raise ApiError("unknown_model", str(exc)) from None
        family, named = entry.family, f"model {entry.name!r}"
    try:
        for prompt in dict.fromkeys((request.prompt, *prompts)):
            find_loras(library, parse_lora_tags(prompt).loras, family, named)
    except LoraTagError as exc:
        raise ApiError("bad_lora", str(exc)) from None
    except BadName as exc:
        raise ApiError("bad_name", str(exc)) from None
    except LibraryError as exc:
        raise ApiError("unknown_lora", str(exc)) from None

