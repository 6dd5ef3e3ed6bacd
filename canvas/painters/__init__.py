"""Painters fill a window's mask. `create_painter(name, **options)` builds one by name;
`load_painters(names)` builds several (the server's `--painter`), keyed by name.

The diffusion painter imports torch lazily, inside its own package and only when one is
built, so the base install and the default painter never need it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from canvas.painters.base import (
    SAMPLING_DEFAULTS,
    SETTINGS,
    CancelToken,
    Cancelled,
    Choice,
    Option,
    PaintProgress,
    PaintRequest,
    Painter,
    ProgressCallback,
    defaults_of,
    label_of,
    options_of,
    paints_from_nothing,
    uses_of,
)


def _patchmatch(**options: Any) -> Painter:
    from canvas.painters.patchmatch import PatchMatchPainter

    return PatchMatchPainter(**options)


def _diffusion(**options: Any) -> Painter:
    """`options` are `DiffusionSettings` fields: model (required), model_config, device, ..."""
    from canvas.painters.diffusion import DiffusionSettings, ModelError

    try:  # checked before torch loads: a typo costs nothing
        settings = DiffusionSettings(**options)
    except TypeError as exc:  # an option it does not have
        raise ModelError(f"diffusion painter: {exc}") from None
    try:
        from canvas.painters.diffusion.models_painter import ModelsPainter
        from canvas.painters.diffusion.painter import DiffusionPainter
    except ImportError as exc:
        raise ModelError(f"the diffusion painter needs torch, diffusers and transformers "
                         f"(pip install 'boundless-canvas[diffusion]'): {exc}") from None
    # With a models library (--models), jobs may name any model in it: one per job.
    return ModelsPainter(settings) if settings.models else DiffusionPainter(settings)


PAINTERS: dict[str, Callable[..., Painter]] = {"patchmatch": _patchmatch, "diffusion": _diffusion}


def create_painter(name: str, **options: Any) -> Painter:
    try:
        factory = PAINTERS[name]
    except KeyError:
        raise ValueError(f"unknown painter {name!r}; choose one of: {', '.join(PAINTERS)}") from None
    return factory(**options)


def painter_names(names: Iterable[str]) -> list[str]:
    """`names` without repeats, in order, each checked (ValueError names an unknown one)."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise ValueError("no painter given")
    for name in wanted:
        if name not in PAINTERS:
            raise ValueError(f"unknown painter {name!r}; choose one of: {', '.join(PAINTERS)}")
    return wanted


def load_painters(names: Iterable[str], options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Painter]:
    """One painter per name, in order, each built once (a repeated name counts once), with
    `options[name]` as its construction options (`load_painters(["diffusion"], {"diffusion": {"model": ...}})`).

    Every name is checked before any painter is built, so a typo fails fast, before a
    slow painter loads its weights. Raises ValueError naming the unknown painter.
    """
    wanted = painter_names(names)
    options = options or {}
    return {name: create_painter(name, **options.get(name, {})) for name in wanted}


__all__ = [
    "CancelToken",
    "Cancelled",
    "Choice",
    "Option",
    "PAINTERS",
    "SAMPLING_DEFAULTS",
    "SETTINGS",
    "PaintProgress",
    "PaintRequest",
    "Painter",
    "ProgressCallback",
    "create_painter",
    "load_painters",
    "painter_names",
    "options_of",
    "defaults_of",
    "label_of",
    "paints_from_nothing",
    "uses_of",
]
