"""Masks by pointing: a Segment Anything model turns clicks (or a box) into a mask.

    segmenter = load_segmenter("facebook/sam-vit-base", offline=True)          # SegmentError if it cannot
    prompt = SegmentPrompt.of(points=[(120, 80), (40, 200)], labels=[1, 0], box=None, size=(512, 512))
    mask = segmenter.segment(key, read=lambda: rgba, prompt=prompt)            # bool, the region's size

Like a painter, a segmenter sees pixels and coordinates inside one region, never the store
or the server: the caller says which region (`key` names it and its contents) and how to
read it. The region's image embedding is computed once and reused for further clicks.

Modules:
- `prompt`: the clicks and the box, checked without torch;
- `model`: loads SAM or SAM-HQ through transformers (a folder or a hub id), runs it, and
  keeps the embeddings of the last few regions;
- `shape`: a segment grown or shrunk by some pixels, before it becomes an inpaint mask.

Only `model` imports torch and transformers, and only when a segmenter is loaded.
"""

from __future__ import annotations

from typing import Any

from canvas.segment.prompt import MAX_POINTS, SegmentError, SegmentPrompt
from canvas.segment.shape import MAX_GROW, grow


def load_segmenter(model: str, offline: bool = False, device: str = "auto", cache: int | None = None) -> Any:
    """A `Segmenter` over `model` (a transformers SAM or SAM-HQ folder, or a hub id).
    Raises SegmentError with one line for the user when it cannot be loaded."""
    if not str(model or "").strip():
        raise SegmentError("--segmenter needs a Segment Anything model: a transformers folder or a hub id")
    try:
        from canvas.segment.model import Segmenter
    except ImportError as exc:
        raise SegmentError(f"the segmenter needs torch and transformers (pip install 'boundless-canvas[diffusion]'): {exc}") from None
    return Segmenter.load(model, offline=offline, device=device, **({} if cache is None else {"cache": cache}))


__all__ = ["MAX_GROW", "MAX_POINTS", "SegmentError", "SegmentPrompt", "grow", "load_segmenter"]
