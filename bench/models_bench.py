"""Model switches and LoRAs timed for bench/library.py (tiny random-weight models built
here, and SD 1.5's full-size UNet with random weights on request)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

RANK = 16
ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")


def _ms(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def switch_figures() -> dict[str, Any]:
    """Two tiny models loaded in a ModelsPainter; the time a job's switch to the other takes."""
    import torch
    from library_folders import comfy_folder
    from tiny_models import TinyModels

    from canvas.library import Library
    from canvas.painters.diffusion.models_painter import ModelsPainter
    from canvas.painters.diffusion.settings import DiffusionSettings

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as temporary:
        tiny = TinyModels(Path(temporary) / "tiny")
        folder = comfy_folder(tiny, Path(temporary) / "ComfyUI")
        painter = ModelsPainter(DiffusionSettings(model="sd15", models=(str(folder),), dtype="fp32", offline=True),
                                Library([folder], cache=None))
        load_ms = _ms(lambda: painter.painter_for("tiny-xl"))
        switches = []
        for number in range(200):
            name = "sd15" if number % 2 else "tiny-xl"
            switches.append(_ms(lambda: painter.painter_for(name)))
        assert painter.cache.loads == 2
    # Microseconds: a switch between loaded models is a dictionary look-up.
    return {"model_load_tiny_ms": round(load_ms, 1), "switch_us": round(statistics.median(switches) * 1000, 1),
            "switch_max_us": round(max(switches) * 1000, 1)}


def lora_figures(full: bool) -> dict[str, Any]:
    figures = _lora_timings("tiny", _tiny_pipeline())
    if full:
        figures.update(_lora_timings("sd15", _sd15_unet_pipeline()))
    return figures


def _tiny_pipeline() -> Any:
    from tiny_models import build_pipeline

    return build_pipeline("sd-inpaint")


def _sd15_unet_pipeline() -> Any:
    """SD 1.5's UNet at full size with random weights (860 M parameters, fp32), in a
    pipeline whose other parts are tiny: a LoRA on SD 1.5 acts on the UNet."""
    import torch
    from diffusers import UNet2DConditionModel

    pipeline = _tiny_pipeline()
    torch.manual_seed(0)
    pipeline.unet = UNet2DConditionModel(sample_size=64, in_channels=9, out_channels=4, cross_attention_dim=768,
                                         attention_head_dim=8, block_out_channels=(320, 640, 1280, 1280))
    pipeline.register_modules(unet=pipeline.unet)
    return pipeline


def _kohya_lora(unet: Any, path: Path) -> Path:
    """A random kohya LoRA of rank RANK on every attention projection of `unet`."""
    import torch
    from safetensors.torch import save_file

    state = {}
    generator = torch.Generator().manual_seed(1)
    for name, module in unet.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(ATTENTION) and ("attn1" in name or "attn2" in name):
            key = "lora_unet_" + name.replace(".", "_")
            state[f"{key}.lora_down.weight"] = torch.randn(RANK, module.in_features, generator=generator) * 0.01
            state[f"{key}.lora_up.weight"] = torch.randn(module.out_features, RANK, generator=generator) * 0.01
            state[f"{key}.alpha"] = torch.tensor(float(RANK))
    save_file(state, str(path))
    return path


def _lora_timings(label: str, pipeline: Any) -> dict[str, Any]:
    from canvas.library import Library
    from canvas.painters.diffusion.lora_tags import find_loras, parse_lora_tags
    from canvas.painters.diffusion.loras import PipelineLoras

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "models" / "Lora"
        folder.mkdir(parents=True)
        path = _kohya_lora(pipeline.unet, folder / "bench.safetensors")
        library = Library([Path(temporary)], cache=None)
        wanted = find_loras(library, parse_lora_tags("<lora:bench:0.8>").loras, None)
        loras = PipelineLoras(pipeline)
        first = _ms(lambda: loras.use(wanted))
        remove = _ms(lambda: loras.use([]))
        again = _ms(lambda: loras.use(wanted))
        loras.use([])
        unload = _ms(loras.unload)
        return {f"lora_{label}_file_mb": round(path.stat().st_size / 2**20, 1),
                f"lora_{label}_apply_first_ms": round(first, 1), f"lora_{label}_remove_ms": round(remove, 1),
                f"lora_{label}_apply_again_ms": round(again, 1), f"lora_{label}_unload_ms": round(unload, 1)}
