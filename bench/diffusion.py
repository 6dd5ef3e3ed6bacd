"""One 512 px window of the full-size SD 1.5 inpainting model on this CPU, random weights.

The architecture is the published one (written below, nothing downloaded): a 9-channel
UNet of 320/640/1280/1280 channels with 768-wide cross-attention, the 128/256/512/512 VAE,
the ViT-L/14 CLIP text encoder; and diffusers' default tiny autoencoder (TAESD's shape)
as the fast VAE. Weights are random: the time of a step does not depend on their values.

Rows: fp32 and bf16, with and without classifier-free guidance, full and tiny VAE, 4 and
20 steps (`window_s`: the painter's `paint` for one window, prompt encoded beforehand as
a job does once). The job path's overhead (bench/path_overhead.py): one window through
`run_job` (store, masks, prefill, colour match, composite, commit) over the painter alone
(`overhead_pct_*`) and over diffusers' own pipeline call with the same settings
(`pipeline_overhead_pct_*`, the figure this script printed alone before), in at least
five interleaved rounds on one thread: the median and its spread (min, max, quartiles),
wall clock and CPU time. Goals: a 4-step window without guidance in bf16 with the tiny
VAE in at most 20 s; the job path at most 3% over the painter and the pipeline. The same
for each transformer family (--overhead FAMILY, bench/family_subjects.py): its full-size
denoiser in bf16 (fewer blocks at the real width where it does not fit twice in free
memory, marked REDUCED), the real-size VAE, tiny text encoders of the real width, 2 steps.

    python bench/diffusion.py --json artifacts/bench/diffusion.json                  # all 16 rows (~30 min)
    python bench/diffusion.py --dtype bf16 --cfg no --steps 4 --json OUT.json       # a few rows
    python bench/diffusion.py --dtype --rounds 7                                     # the overhead alone
    python bench/diffusion.py --dtype --overhead sd3 flux2-klein --rounds 5          # families' overhead
    python bench/diffusion.py --dtype --overhead flux qwen-image --reduced           # its upper bound, faster

Timings on a shared machine wander; --repeat N keeps the best of N runs a row.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from common import photo_like
from family_subjects import FAMILY_KEYS, family_subject
from path_overhead import MIN_ROUNDS, Subject, measure

from canvas.painters import CancelToken, PaintRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tiny_models import _tokenizer  # noqa: E402  the offline byte-level CLIP tokenizer

# stable-diffusion-v1-5/stable-diffusion-inpainting, unet/config.json and vae/config.json
UNET = dict(
    sample_size=64, in_channels=9, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
)
VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
    sample_size=512, scaling_factor=0.18215,
)
# openai/clip-vit-large-patch14, the text half
TEXT = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768, bos_token_id=49406, eos_token_id=49407,
)
SCHEDULER = "Euler"  # one model call a step, like most
WINDOW = 512
PROMPT = "a quiet street in the rain, photograph"


def build(dtype: str, vaes: tuple[str, ...] = ("full", "tiny")) -> dict:
    """Painters by VAE: the pipeline with the full VAE, one sharing everything but a tiny
    VAE. Built in `dtype` itself: bf16 never holds an fp32 copy (3.4 GB for the UNet)."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, EulerDiscreteScheduler, StableDiffusionInpaintPipeline
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16 if dtype == "bf16" else torch.float32)
    try:
        parts = dict(
            unet=UNet2DConditionModel(**UNET), text_encoder=CLIPTextModel(CLIPTextConfig(**TEXT)),
            tokenizer=_tokenizer(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
            scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                             steps_offset=1, timestep_spacing="leading"),
        )
        vae = {"full": AutoencoderKL(**VAE) if "full" in vaes else None, "tiny": AutoencoderTiny() if "tiny" in vaes else None}
    finally:
        torch.set_default_dtype(default)
    return {kind: painter(StableDiffusionInpaintPipeline(**parts, vae=model), dtype) for kind, model in vae.items() if model}


def painter(pipeline, dtype: str):
    from canvas.painters.diffusion import DiffusionSettings
    from canvas.painters.diffusion.painter import DiffusionPainter

    settings = DiffusionSettings(model="SD 1.5 inpainting (random weights)", device="cpu", dtype=dtype, scheduler=SCHEDULER)
    return DiffusionPainter(settings, pipeline=pipeline)


def window() -> tuple[np.ndarray, np.ndarray]:
    """A window as the tiler hands it over when growing a picture downwards."""
    image = photo_like(WINDOW, WINDOW)
    mask = np.zeros((WINDOW, WINDOW), bool)
    mask[WINDOW // 4 :] = True
    return image, mask


def request(cfg: bool, steps: int) -> PaintRequest:
    return PaintRequest(prompt=PROMPT, seed=1, steps=steps, guidance=7.0 if cfg else 1.0)


def window_seconds(painter, cfg: bool, steps: int, repeat: int) -> float:
    """The best of `repeat` runs: other work on the machine only ever adds time."""
    image, mask = window()
    # Steady state, as from a job's second window on: the prompt is encoded (once a job)
    # and oneDNN has built its kernels for these shapes (the first call builds them).
    warm = painter.__dict__.setdefault("bench_warm", set())
    if cfg not in warm:
        painter.paint(image, mask, request(cfg, 1), lambda p: None, CancelToken())
        warm.add(cfg)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        painter.paint(image, mask, request(cfg, steps), lambda p: None, CancelToken())
        times.append(time.perf_counter() - started)
    return min(times)


def sd_subject(steps: int = 4) -> Subject:
    """SD 1.5 inpainting as the job path's overhead is measured for it: bf16, no guidance,
    the tiny VAE, `steps` steps, on one thread (see `one_thread`). The baselines: the
    painter alone, and diffusers' StableDiffusionInpaintPipeline called directly."""
    import torch
    from PIL import Image

    from canvas.painters.diffusion.prompts import PromptCache
    from canvas.painters.diffusion.schedulers import make_scheduler

    painter = build("bf16", vaes=("tiny",))["tiny"]
    pipeline = painter.model.pipeline
    pipeline.scheduler = make_scheduler(SCHEDULER, pipeline.scheduler.config)

    def call(image: np.ndarray, mask: np.ndarray) -> None:
        with torch.inference_mode():
            pipeline(prompt=PROMPT, image=Image.fromarray(image), mask_image=Image.fromarray(mask),
                     num_inference_steps=steps, guidance_scale=1.0, height=WINDOW, width=WINDOW,
                     generator=torch.Generator("cpu").manual_seed(1))

    def fresh() -> None:
        painter.prompts = PromptCache(painter.model)  # a new job encodes its prompt, as the pipeline does

    return Subject("sd1", painter, request(False, steps), WINDOW, call, fresh,
                   note=f"SD 1.5 inpainting UNet, bf16, no guidance, tiny VAE, {steps} steps, one thread")


# The configurations whose job path is measured, by family key (families.py): a factory
# of the painter and its baselines each. The transformer families paint through their own
# diffusers pipelines with their full-size denoisers (family_subjects.py: reduced to fewer
# blocks, and said so, where the whole one does not fit this machine).
CONFIGURATIONS: dict[str, Callable[[], Subject]] = {
    "sd1": sd_subject, **{key: functools.partial(family_subject, key) for key in FAMILY_KEYS},
}


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread while the overhead is measured: with two, another busy process
    on this 2-core machine stalls every OpenMP barrier by a scheduler tick, at random,
    which swamps a few percent (measured: a UNet step from 3 s to 14 s). The path's own
    cost (numpy, SQLite) is single-threaded whatever torch uses."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def print_overhead(figures: dict) -> None:
    print(f"== job path overhead: {figures['name']} ({figures['note']}), {figures['rounds']} interleaved rounds")
    for key, value in figures.items():
        if key not in ("name", "note", "rounds"):
            print(f"   {key:<34} {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--dtype", nargs="*", choices=("fp32", "bf16"), default=["fp32", "bf16"],
                        help="window rows in these dtypes (none: no rows)")
    parser.add_argument("--cfg", nargs="+", choices=("yes", "no"), default=["yes", "no"])
    parser.add_argument("--vae", nargs="+", choices=("full", "tiny"), default=["full", "tiny"])
    parser.add_argument("--steps", nargs="+", type=int, default=[4, 20])
    parser.add_argument("--repeat", type=int, default=1, help="runs per row, the best counts (default 1)")
    parser.add_argument("--overhead", nargs="*", choices=tuple(CONFIGURATIONS), default=["sd1"],
                        help="measure the job path's overhead for these families (default sd1; none: skip)")
    parser.add_argument("--no-overhead", dest="overhead", action="store_const", const=[], help="skip the overhead")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help=f"interleaved overhead rounds (at least {MIN_ROUNDS})")
    parser.add_argument("--reduced", action="store_true",
                        help="families' denoisers with fewer blocks of the real width even where they fit: an upper "
                             "bound of the overhead in minutes (a whole FLUX.2 Klein forward is ~2 min of one core)")
    args = parser.parse_args()
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}: a median of fewer says little")

    rows = []
    if args.dtype:
        print(f"{'dtype':<6} {'cfg':<4} {'vae':<5} {'steps':>5} {'window_s':>9}", flush=True)
    for dtype in args.dtype:
        painters = build(dtype)
        for cfg, vae, steps in itertools.product(args.cfg, args.vae, args.steps):
            seconds = window_seconds(painters[vae], cfg == "yes", steps, args.repeat)
            rows.append({"dtype": dtype, "cfg": cfg == "yes", "vae": vae, "steps": steps, "window_s": round(seconds, 2)})
            print(f"{dtype:<6} {cfg:<4} {vae:<5} {steps:>5} {seconds:>9.2f}", flush=True)
        del painters
    overhead = {}
    for key in args.overhead:
        with one_thread():
            subject = CONFIGURATIONS[key]
            if args.reduced and key in FAMILY_KEYS:
                subject = functools.partial(family_subject, key, reduced=True)
            overhead[key] = measure(subject, args.rounds)
        print_overhead(overhead[key])
    figures = {"rows": rows, "overhead": overhead}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
