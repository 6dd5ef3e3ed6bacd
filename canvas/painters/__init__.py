"""Painters fill a window's mask. `create_painter(name, **options)` builds one by name.

The diffusion painter imports torch lazily, inside its own module, so the base install
and the default painter never need it.
"""

from __future__ import annotations

from typing import Any, Callable

from canvas.painters.base import (
    CancelToken,
    Cancelled,
    PaintProgress,
    PaintRequest,
    Painter,
    ProgressCallback,
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


__all__ = [
    "CancelToken",
    "Cancelled",
    "PAINTERS",
    "PaintProgress",
    "PaintRequest",
    "Painter",
    "ProgressCallback",
    "create_painter",
]
