"""`boundless inpaint --segment X,Y --segmenter MODEL`: the inpaint mask from clicks (and a
box) on the picture, made by a Segment Anything model, instead of a mask file.

    points = Pointing.of(args)                  # checked, without torch
    segmenter = open_segmenter(args.segmenter, args)
    mask = points.mask(segmenter, rgba, Rect(0, 0, w, h), grow_by=args.grow)

Points and the box are in the picture's pixels (IMAGE), or in the canvas's level-0 pixels
(--canvas without IMAGE, where the segmented region is all the canvas holds).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from canvas.cli.errors import UserError
from canvas.segment import MAX_GROW, SegmentError, SegmentPrompt, grow, load_segmenter
from tiler.rect import Rect


def wants_segment(args: argparse.Namespace) -> bool:
    return bool(args.segment or args.segment_out or args.segment_box)


@dataclass(frozen=True)
class Pointing:
    points: tuple[tuple[float, float], ...]
    labels: tuple[int, ...]
    box: tuple[float, ...] | None

    @classmethod
    def of(cls, args: argparse.Namespace) -> "Pointing":
        """The clicks and box of `args`, checked: numbers, a segmenter to run them, a grow in bounds."""
        if args.mask:
            raise UserError("give --mask or --segment/--segment-box, not both")
        if not args.segmenter:
            raise UserError("--segment needs --segmenter MODEL: a Segment Anything folder or hub id (SAM, SAM-HQ)")
        if not -MAX_GROW <= args.grow <= MAX_GROW:
            raise UserError(f"--grow must be between -{MAX_GROW} and {MAX_GROW}, got {args.grow}")
        inside = [_numbers(text, 2, "--segment") for text in args.segment]
        outside = [_numbers(text, 2, "--segment-out") for text in args.segment_out]
        box = _numbers(args.segment_box, 4, "--segment-box") if args.segment_box else None
        return cls(tuple(inside + outside), (1,) * len(inside) + (0,) * len(outside), box)

    def mask(self, segmenter: Any, rgba: np.ndarray, region: Rect, grow_by: int = 0, quiet: bool = False) -> np.ndarray:
        """The segment these point at in `rgba` (the pixels of `region`), grown by `grow_by`."""
        local = [(x - region.x, y - region.y) for x, y in self.points]
        box = None if self.box is None else (self.box[0] - region.x, self.box[1] - region.y,
                                             self.box[2] - region.x, self.box[3] - region.y)
        try:
            prompt = SegmentPrompt.of(local, list(self.labels), box, (region.w, region.h))
        except SegmentError as exc:
            raise UserError(f"--segment: {exc}" + (f" (at {region.x}, {region.y})" if region.x or region.y else "")) from None
        found, score = segmenter.segment("cli", lambda: rgba, prompt)
        mask = grow(found, grow_by)
        if not mask.any():
            raise UserError("--segment: the segmenter found nothing there; click elsewhere, add points or a box")
        if not quiet:
            grown = f", grown by {grow_by} px" if grow_by else ""
            print(f"segment: {int(mask.sum())} px of {region.w}x{region.h} (score {score:.2f}){grown}")
        return mask


def open_segmenter(model: str, args: argparse.Namespace) -> Any:
    """The segmenter `model` names, loaded now: a missing or wrong one is one line."""
    try:
        return load_segmenter(model, offline=args.offline, device=args.device)
    except SegmentError as exc:
        raise UserError(str(exc)) from None


def _numbers(text: str, count: int, flag: str) -> tuple[float, ...]:
    parts = text.split(",")
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        shape = "X,Y" if count == 2 else "X0,Y0,X1,Y1"
        raise UserError(f"{flag} is {count} numbers {shape}, got {text!r}")
    return values
