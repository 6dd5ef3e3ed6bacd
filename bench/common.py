"""Shared bits of the benchmark scripts: argument parsing, figures out, test pictures."""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    return parser.parse_args()


def report(figures: dict[str, Any], out: str | None) -> None:
    width = max(map(len, figures)) if figures else 0
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(figures, indent=2) + "\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, textured RGB picture: gradients plus noise at several scales."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for scale in (64, 16, 4, 1):
        coarse = rng.normal(0, 1, ((height + scale - 1) // scale, (width + scale - 1) // scale, 3))
        image += np.repeat(np.repeat(coarse, scale, 0), scale, 1)[:height, :width] * (scale ** 0.5) * 6
    image += 128
    return np.clip(image, 0, 255).astype(np.uint8)
