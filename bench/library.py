"""How fast the models library lists a folder: a scan of 500 files, cold and cached.

An A1111-layout folder of 500 small .safetensors files with real tensor names (100
checkpoints, 300 kohya LoRAs, 100 embeddings; their size does not matter, a scan reads
headers only), then:

- `scan_cold_ms`: the first scan, every header read (an empty scan cache);
- `scan_cached_ms`: a new Library on the same cache, as after a restart: no file read;
- `rescan_ms`: `library.rescan()` in the same process, nothing changed;
- `files_read_cached`: files the cached scan read (0 is the point).

The issue's goal: a folder of hundreds of files lists in under a second after the first scan.

Models and LoRAs (`--models`, needs the diffusion extra; tiny random-weight models built here):

- `switch_us`: a job's model switching between two loaded models (ModelsPainter.painter_for,
  the LRU's hit), median and most, in microseconds; goal under 50 ms;
- `lora_*_ms` on the tiny SD UNet and (`--full-unet`: builds SD 1.5's UNet with random
  weights, 3.4 GB in fp32) on the full-size one, with a kohya LoRA of rank 16 on every
  attention projection: `apply_first` (read, converted, injected and set), `remove` (the
  adapters stop acting: the original layers' output, bit for bit), `apply_again` (kept
  loaded: set active again), `unload` (every adapter out, the original layers back).

    python bench/library.py [--json OUT] [--files 500] [--models [--full-unet]]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import report
from safetensors.numpy import save_file

from canvas.library import Library

CHECKPOINT = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (4, 768),
              "cond_stage_model.transformer.text_model.final_layer_norm.weight": (4,)}
LORA = {f"lora_unet_down_blocks_{b}_attentions_0_transformer_blocks_0_attn2_to_{m}.{part}": shape
        for b in range(3) for m in ("k", "v")
        for part, shape in (("lora_down.weight", (4, 768)), ("lora_up.weight", (8, 4)), ("alpha", ()))}
EMBEDDING = {"clip_l": (2, 768), "clip_g": (2, 1280)}


def build(root: Path, files: int) -> None:
    """`files` weights files in A1111's layout, a fifth checkpoints, three fifths LoRAs, a fifth embeddings."""
    kinds = [("models/Stable-diffusion", CHECKPOINT)] + [("models/Lora", LORA)] * 3 + [("embeddings", EMBEDDING)]
    for number in range(files):
        folder, shapes = kinds[number % len(kinds)]
        path = root / folder / f"group-{number % 7}" / f"file-{number:04d}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({name: np.zeros(shape, np.float16) for name, shape in shapes.items()}, str(path))


def timed(make) -> tuple[float, object]:
    start = time.perf_counter()
    result = make()
    return (time.perf_counter() - start) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--files", type=int, default=500, help="weights files in the folder (default 500)")
    parser.add_argument("--models", action="store_true", help="also time model switches and LoRAs (tiny models)")
    parser.add_argument("--full-unet", action="store_true", help="and a LoRA on a full-size SD 1.5 UNet (3.4 GB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root, cache = Path(temporary) / "webui", Path(temporary) / "library.json"
        build(root, args.files)
        cold_ms, cold = timed(lambda: Library([root], cache=cache))
        cached = [timed(lambda: Library([root], cache=cache)) for _ in range(5)]
        rescans = [timed(cold.rescan)[0] for _ in range(5)]
        entries = len(cold.entries())
        cache_kb = round(cache.stat().st_size / 1024, 1)
    figures = {}
    if args.models:
        from models_bench import lora_figures, switch_figures

        figures.update(switch_figures())
        figures.update(lora_figures(full=args.full_unet))
    report({
        "files": args.files,
        "entries": entries,
        "scan_cold_ms": round(cold_ms, 1),
        "scan_cached_ms": round(statistics.median(ms for ms, _ in cached), 1),
        "rescan_ms": round(statistics.median(rescans), 1),
        "files_read_cached": max(library.scan.read for _, library in cached),
        "cache_kb": cache_kb,
        **figures,
    }, args.json)


if __name__ == "__main__":
    main()
