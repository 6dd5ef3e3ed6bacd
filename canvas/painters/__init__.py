"""Painters fill a window's mask. `create_painter(name, **options)` builds one by name;
`load_painters(names)` builds several (the server's `--painter`), keyed by name.

The diffusion painter imports torch lazily, inside its own module, so the base install
and the default painter never need it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from canvas.painters.base import (
    CancelToken,
    Cancelled,
    Option,
    PaintProgress,
    PaintRequest,
    Painter,
    ProgressCallback,
    options_of,
)


def _patchmatch(**options: Any) -> Painter:
    from canvas.painters.patchmatch import PatchMatchPainter

    return PatchMatchPainter(**options)


PAINTERS: dict[str, Callable[..., Painter]] = {"patchmatch": _patchmatch}


def create_painter(name: str, **options: Any) -> Painter:
    try:
        factory = PAINTERS[name]
    except KeyError:
        raise ValueError(f"unknown painter {name!r}; choose one of: {', '.join(PAINTERS)}") from None
    return factory(**options)


def load_painters(names: Iterable[str]) -> dict[str, Painter]:
    """One painter per name, in order, each built once (a repeated name counts once).

    Every name is checked before any painter is built, so a typo fails fast, before a
    slow painter loads its weights. Raises ValueError naming the unknown painter.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise ValueError("no painter given")
    for name in wanted:
        if name not in PAINTERS:
            raise ValueError(f"unknown painter {name!r}; choose one of: {', '.join(PAINTERS)}")
    return {name: create_painter(name) for name in wanted}


__all__ = [
    "CancelToken",
    "Cancelled",
    "Option",
    "PAINTERS",
    "PaintProgress",
    "PaintRequest",
    "Painter",
    "ProgressCallback",
    "create_painter",
    "load_painters",
    "options_of",
]
