"""Big expansions, tiles against coarse to fine: do real photos stay coherent?

Each case is a crop of a real photo (scikit-image's and scikit-learn's sample images)
grown by 2 to 4 times on one or more sides back to the whole photo's size, so what the
new part should hold is known. Per photo, strategy and painter (PatchMatch, and the tiny
random-weight SD model of tests/tiny_models.py, whose pictures mean nothing but whose
seams, streaks and timings do), the table shows:

- `windows`: windows painted, all stages together;
- `seam`: the worst seam ratio over the border of every window (tiler.seams; 1 is
  invisible) at the job's level;
- `streak`: how much more one gradient direction dominates in the new part than in the
  photo's own, block by block (`streaks`; 0: the same balance of horizontal and vertical
  gradients; PatchMatch's smears are runs of one direction: well above 0);
- `detail`: gradient energy of the new part over the photo's (1: as sharp as the photo);
- `layout`: mean colour difference (0-255) at 1/16 resolution between the new part and
  what the whole photo really holds there;
- `s`: seconds.

    python bench/coherence.py [--painter patchmatch|sd|both] [--case NAME] [--strategy coarse]
                              [--refine-strength 0.5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT

from canvas.jobs import Expand, JobSpec, run_job
from canvas.jobs.spec import REFINE_STRENGTH
from canvas.painters import PaintRequest, create_painter
from canvas.store import Store
from tiler.rect import Rect
from tiler.seams import painted_seam_ratios

sys.path.insert(0, str(ROOT / "tests"))

# name: (photo, scale of the whole photo, the crop kept (x, y, w, h) as shares of it)
CASES = {
    "astronaut_down_2.7x": ("astronaut", 1.0, (0.0, 0.0, 1.0, 3 / 8)),
    "coffee_right_3x": ("coffee", 1.0, (0.0, 0.0, 1 / 3, 1.0)),
    "china_sides_3x": ("china", 1.0, (1 / 3, 0.0, 1 / 3, 1.0)),
    "flower_up_2x": ("flower", 1.0, (0.0, 0.5, 1.0, 0.5)),
    "china_right_3x_big": ("china", 2.0, (0.0, 0.0, 1 / 3, 1.0)),
    "astronaut_down_4x_big": ("astronaut", 1.5, (0.0, 0.0, 1.0, 0.25)),
}
STRATEGIES = ("tiles", "coarse")
LOW = 16  # px of the whole photo per cell of the colour layout


def whole(name: str, scale: float) -> np.ndarray:
    from PIL import Image

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    else:
        from skimage import data

        image = getattr(data, name)()[..., :3]
    if scale != 1.0:
        h, w = image.shape[:2]
        image = np.asarray(Image.fromarray(image).resize((round(w * scale), round(h * scale)), Image.LANCZOS))
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[: h - h % LOW, : w - w % LOW])


def case(name: str, scale: float, crop: tuple[float, float, float, float]) -> tuple[np.ndarray, Rect, Expand]:
    """The whole photo, the crop kept (where it lies in it) and the expansion back to it."""
    image = whole(name, scale)
    h, w = image.shape[:2]
    x, y = round(crop[0] * w) // 8 * 8, round(crop[1] * h) // 8 * 8
    kept = Rect(x, y, round(crop[2] * w) // 8 * 8, round(crop[3] * h) // 8 * 8)
    return image, kept, Expand(left=kept.x, up=kept.y, right=w - kept.x1, down=h - kept.y1)


def streaks(rgb: np.ndarray, where: np.ndarray, block: int = 32) -> float:
    """How far one gradient direction dominates, block by block: the mean over the blocks
    of `block` px mostly inside `where` of |log(Ex / Ey)| (Ex, Ey: mean absolute gradient
    across columns and across rows). Smears and bands run one way: large values."""
    grey = rgb.astype(np.float32).mean(axis=2)
    gx = np.abs(np.diff(grey, axis=1))[:-1, :]
    gy = np.abs(np.diff(grey, axis=0))[:, :-1]
    inside = where[:-1, :-1]
    values = []
    for y in range(0, gx.shape[0] - block + 1, block):
        for x in range(0, gx.shape[1] - block + 1, block):
            part = inside[y : y + block, x : x + block]
            if part.mean() > 0.9:
                ex, ey = gx[y : y + block, x : x + block].mean(), gy[y : y + block, x : x + block].mean()
                values.append(abs(np.log((ex + 0.5) / (ey + 0.5))))
    return float(np.mean(values)) if values else float("nan")


def energy(rgb: np.ndarray, where: np.ndarray) -> float:
    grey = rgb.astype(np.float32).mean(axis=2)
    gx = np.diff(grey, axis=1)[:-1, :]
    gy = np.diff(grey, axis=0)[:, :-1]
    return float(np.sqrt(gx**2 + gy**2)[where[:-1, :-1]].mean())


def layout(result: np.ndarray, truth: np.ndarray, new: np.ndarray) -> float:
    h, w = truth.shape[:2]
    cells = (h // LOW, LOW, w // LOW, LOW, 3)
    low = lambda a: a.astype(np.float32).reshape(cells).mean(axis=(1, 3))  # noqa: E731
    mostly_new = new.reshape(cells[:4]).mean(axis=(1, 3)) > 0.5
    return float(np.abs(low(result) - low(truth)).mean(axis=2)[mostly_new].mean())


def run(painter, picture: str, scale: float, crop: tuple, strategy: str, request: PaintRequest,
        refine: float = REFINE_STRENGTH) -> dict:
    truth, kept, grow = case(picture, scale, crop)
    with Store.open(":memory:") as store:
        store.import_image(truth[kept.slices], kept.x, kept.y)
        started = time.perf_counter()
        result = run_job(store, painter, JobSpec(grow, request=request, strategy=strategy, refine_strength=refine))
        seconds = time.perf_counter() - started
        area = store.bounds(0)
        out = store.read(0, area)[..., :3]
        info = store.history()[-1].info
    assert area == Rect(0, 0, truth.shape[1], truth.shape[0]), area
    known = np.zeros(truth.shape[:2], bool)
    known[kept.slices] = True
    # The seams that show: those of the windows painted at the job's level (the last stage).
    last = info["steps"][-1] if "steps" in info else {"level": info["level"], "plan": info["plan"]}
    assert last["level"] == 0
    ratios = painted_seam_ratios(out, area, known, [Rect(*rect) for rect in last["plan"]])
    whole_known = np.ones(kept.h * kept.w, bool).reshape(kept.h, kept.w)
    return {
        "windows": len(result.windows),
        "seam": float(np.nanmax(ratios)) if np.isfinite(ratios).any() else float("nan"),
        "streak": streaks(out, ~known) - streaks(truth[kept.slices], whole_known),
        "detail": energy(out, ~known) / energy(truth, known),
        "layout": layout(out, truth, ~known),
        "s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--painter", choices=("patchmatch", "sd", "both"), default="both")
    parser.add_argument("--case", action="append", choices=list(CASES), help="only these cases")
    parser.add_argument("--strategy", action="append", choices=STRATEGIES, help="only these strategies")
    parser.add_argument("--refine-strength", type=float, default=REFINE_STRENGTH, help="coarse: the refine stages' strength")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    painters = []
    if args.painter in ("patchmatch", "both"):
        painters.append(("patchmatch", create_painter("patchmatch"), PaintRequest(seed=0)))
    if args.painter in ("sd", "both"):
        import torch

        from tiny_models import save_pipeline

        torch.set_num_threads(1)
        folder = save_pipeline("sd-inpaint", Path(tempfile.mkdtemp()) / "sd-inpaint")
        painter = create_painter("diffusion", model=str(folder), dtype="fp32", offline=True)
        painters.append(("tiny-sd", painter, PaintRequest(seed=0, steps=4, guidance=1.0)))
    rows = []
    print(f"{'case':<24} {'painter':<10} {'strategy':<8} {'windows':>7} {'seam':>6} {'streak':>6} "
          f"{'detail':>6} {'layout':>6} {'s':>7}")
    for name in args.case or CASES:
        picture, scale, crop = CASES[name]
        for label, painter, request in painters:
            for strategy in args.strategy or STRATEGIES:
                row = {"case": name, "painter": label, "strategy": strategy,
                       **run(painter, picture, scale, crop, strategy, request, args.refine_strength)}
                rows.append(row)
                print(f"{name:<24} {label:<10} {strategy:<8} {row['windows']:>7} {row['seam']:>6.2f} {row['streak']:>6.2f} "
                      f"{row['detail']:>6.2f} {row['layout']:>6.1f} {row['s']:>7.1f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
