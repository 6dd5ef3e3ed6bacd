"""How long a click takes: Segment Anything through canvas/segment's real path, on this CPU.

- The tiny random-weight SAM the tests build (tests/tiny_models.py, a 256 px input):
  `first_click_ms` (the region's image embedding and the mask) and `next_click_ms`
  (another click on the same region: the cached embedding, the mask decoder only).
- A full-size estimate: SAM ViT-H's configuration (facebook/sam-vit-huge: 1280 wide, 32
  layers, 16 heads, global attention at layers 7, 15, 23, 31, a 1024 px input) with random
  weights, which cost the same to run as trained ones: `vit_h_embed_s`, one image
  embedding, and `vit_h_click_ms`, one click's mask decoder pass on the cached embedding.
  It needs about 3 GB and a minute or two; `--no-vit-h` leaves it out.

    nice python bench/segment.py --json artifacts/bench/segment.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import peak_rss_mb, photo_like, report

from canvas.segment import SegmentPrompt, load_segmenter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tiny_models import save_sam  # noqa: E402

REGION = 512  # px a side: a region the client asks about (the tiny SAM resizes it to 256)
CLICKS = 10  # further clicks timed on the cached embedding
VIT_H = {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16, "mlp_dim": 5120,
         "global_attn_indexes": [7, 15, 23, 31]}


def clicks(segmenter, image: np.ndarray, count: int) -> tuple[float, list[float]]:
    """Seconds of the first click on a new region, and of `count` more clicks on it."""
    h, w = image.shape[:2]
    key = ("bench", id(image))
    started = time.perf_counter()
    segmenter.segment(key, read=lambda: image, prompt=SegmentPrompt.of(points=[(w // 2, h // 2)], labels=[1], box=None, size=(w, h)))
    first = time.perf_counter() - started
    rng = np.random.default_rng(0)
    times = []
    for _ in range(count):
        point = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        started = time.perf_counter()
        segmenter.segment(key, read=lambda: image, prompt=SegmentPrompt.of(points=[point], labels=[1], box=None, size=(w, h)))
        times.append(time.perf_counter() - started)
    return first, times


def tiny(figures: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        segmenter = load_segmenter(str(save_sam(Path(folder) / "tiny-sam")), offline=True, device="cpu")
        clicks(segmenter, photo_like(REGION, REGION, seed=1), 2)  # warm-up: first-call allocations
        first, times = clicks(segmenter, photo_like(REGION, REGION), CLICKS)
    figures["first_click_ms"] = first * 1000
    figures["next_click_ms"] = statistics.median(times) * 1000


def vit_h(figures: dict) -> None:
    """A ViT-H SAM with random weights behind the same Segmenter the server uses."""
    import torch
    from transformers import SamConfig, SamImageProcessorPil, SamModel, SamProcessor, SamVisionConfig

    from canvas.segment.model import Segmenter

    torch.manual_seed(0)
    started = time.perf_counter()
    model = SamModel(SamConfig(vision_config=SamVisionConfig(**VIT_H).to_dict())).eval()
    figures["vit_h_build_s"] = time.perf_counter() - started
    figures["vit_h_params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    segmenter = Segmenter(model, SamProcessor(image_processor=SamImageProcessorPil()), "sam-vit-h (random)", torch.device("cpu"))
    first, times = clicks(segmenter, photo_like(1024, 1024), 3)
    click = statistics.median(times)
    figures["vit_h_embed_s"] = first - click  # the first click is the embedding plus one click
    figures["vit_h_click_ms"] = click * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--no-vit-h", action="store_true", help="only the tiny model (seconds, not minutes)")
    args = parser.parse_args()
    import torch

    figures: dict = {"threads": torch.get_num_threads()}
    tiny(figures)
    if not args.no_vit_h:
        vit_h(figures)
    figures["peak_rss_mb"] = peak_rss_mb()
    report(figures, args.json)


if __name__ == "__main__":
    main()
