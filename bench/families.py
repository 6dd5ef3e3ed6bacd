"""Each model family's denoiser at full size, random weights: parameters, memory, and one
512 px window step on this CPU.

Nothing is downloaded: each family's published transformer (or UNet) config.json is
written below, with where its values come from. Every configuration is built on the meta
device first (no memory, no time): its parameter count is checked against the published
figure, and its work for one step (FLOPs of one denoiser forward at the 512 px latent
size and the family's real text length, counted on meta tensors) is recorded. Then those
named with --run are built for real in bf16 (this CPU has native bf16: AVX512-BF16; fp32
on a CPU without), one at a time, each in its own process (its peak memory is then its
own), and only when twice its weights are free: one forward is timed on one thread, by
its CPU time (the step's own work on one core; the wall clock on a shared machine is
printed beside it). The others show their meta figures and an estimate of the step from
their FLOPs at the measured rate, marked "est".

    python bench/families.py                            # meta figures only
    python bench/families.py --run sd1 sd3 flux2-klein  # and time these for real
    python bench/families.py --run all --json artifacts/bench/families.json

A step is one denoiser forward; classifier-free guidance, where a family's default uses
it, makes two (`s/step`). The VAE and text encoders are not part of a step (a job encodes
its prompt once and decodes each window once). The "typical GPU" lines are published
figures, not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from common import ROOT

from canvas.painters.diffusion.families import FAMILIES

WINDOW = 512
LATENT = WINDOW // 8  # every family's VAE downsamples by 8
PROMPT_TOKENS = 32  # one sentence with its chat template, where a pipeline does not pad

# SD 1.5 inpainting: stable-diffusion-v1-5/stable-diffusion-inpainting, unet/config.json
# (the same values as bench/diffusion.py's UNET).
SD1 = dict(
    sample_size=64, in_channels=9, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
)
# SD 2 inpainting: stabilityai/stable-diffusion-2-inpainting, unet/config.json: SD 1.5's
# layout with OpenCLIP-H's 1024-wide text, linear projections, 5/10/20/20 heads.
SD2 = {**SD1, "cross_attention_dim": 1024, "attention_head_dim": (5, 10, 20, 20), "use_linear_projection": True}
# SDXL inpainting: diffusers/stable-diffusion-xl-1.0-inpainting-0.1, unet/config.json.
SDXL = dict(
    sample_size=128, in_channels=9, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816, norm_num_groups=32, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
)
# SD 3.5 Medium (MMDiT-X): stabilityai/stable-diffusion-3.5-medium, transformer/config.json
# (as mirrored on the hub, e.g. Prgckwb/trpfrog-sd3.5-medium's copy of it).
SD35_MEDIUM = dict(
    sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64, num_attention_heads=24,
    joint_attention_dim=4096, caption_projection_dim=1536, pooled_projection_dim=2048, out_channels=16,
    pos_embed_max_size=384, dual_attention_layers=tuple(range(13)), qk_norm="rms_norm",
)
# FLUX.1 [dev]: black-forest-labs/FLUX.1-dev, transformer/config.json (and diffusers' docs
# of FluxTransformer2DModel, whose defaults these are, with guidance embeddings).
FLUX1 = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56),
)
# FLUX.1 Fill [dev]: black-forest-labs/FLUX.1-Fill-dev, transformer/config.json: FLUX.1 with
# 384 input channels (64 latent + 320 for the masked picture and its mask), 64 out.
FLUX1_FILL = {**FLUX1, "in_channels": 384, "out_channels": 64}
# Chroma1-HD: lodestones/Chroma1-HD, transformer/config.json (diffusers' defaults of
# ChromaTransformer2DModel): FLUX.1's blocks, modulation from a small approximator.
CHROMA = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, axes_dims_rope=(16, 56, 56), approximator_num_channels=64, approximator_hidden_dim=5120,
    approximator_layers=5,
)
# FLUX.2 [klein] 4B: black-forest-labs/FLUX.2-klein-4B, transformer/config.json (as in the
# diffusers conversion of FLUX.2-klein-base-4B: the same transformer): 5 double and 20
# single blocks, 3072 wide, text from three Qwen3-4B layers (3 x 2560 = 7680).
KLEIN_4B = dict(
    patch_size=1, in_channels=128, num_layers=5, num_single_layers=20, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=7680, timestep_guidance_channels=256, mlp_ratio=3.0, axes_dims_rope=(32, 32, 32, 32),
    rope_theta=2000, eps=1e-6, guidance_embeds=False,
)
# Z-Image (Turbo and Base share it): Tongyi-MAI/Z-Image-Turbo, transformer/config.json.
Z_IMAGE = dict(
    all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=3840, n_layers=30, n_refiner_layers=2, n_heads=30,
    n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560, rope_theta=256.0, t_scale=1000.0,
    axes_dims=(32, 48, 48), axes_lens=(1536, 512, 512),
)
# Qwen-Image: Qwen/Qwen-Image, transformer/config.json (diffusers' defaults of
# QwenImageTransformer2DModel): 60 dual-stream blocks, text from Qwen2.5-VL-7B (3584).
QWEN_IMAGE = dict(
    patch_size=2, in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56),
)


@dataclass(frozen=True)
class Config:
    """One family's denoiser at full size, and what a 512 px window step feeds it."""

    family: str  # key in FAMILIES
    model: str  # the checkpoint whose config this is
    config: dict[str, Any]
    published_b: float  # its published parameter count, billions
    published: str  # where that figure is published
    text_tokens: int  # text tokens the denoiser sees at a step (the pipeline's padding)
    text_note: str
    image_tokens: int = (LATENT // 2) ** 2  # 2x2 latent patches: 1024 at 512 px
    gpu: str = ""  # typical GPU figures, published, not measured here

    @property
    def denoiser(self) -> str:
        return FAMILIES[self.family].denoiser


CONFIGS: dict[str, Config] = {c.family: c for c in (
    Config("sd1", "SD 1.5 inpainting", SD1, 0.86, "SD 1.x model cards: an 860M UNet", 77, "CLIP-L, 77",
           gpu="fp16 ~3-4 GB; 25 steps with guidance at 512 px in 2-4 s on a mid-range card"),
    Config("sd2", "SD 2 inpainting", SD2, 0.865, "SD 2 model card: an 865M UNet", 77, "OpenCLIP-H, 77",
           gpu="as SD 1.5 at 512 px"),
    Config("sdxl", "SDXL 1.0 inpainting", SDXL, 2.6, "SDXL report (Podell et al. 2023): a 2.6B UNet", 77,
           "CLIP-L + bigG, 77", gpu="fp16 ~8-10 GB; 25 steps at 1024 px in 10-20 s on a mid-range card"),
    Config("sd3", "SD 3.5 Medium", SD35_MEDIUM, 2.5, "SD 3.5 Medium model card: 2.5 billion parameters", 77 + 256,
           "CLIP 77 + T5 256 (max_sequence_length)",
           gpu="9.9 GB VRAM without T5 (Stability's SD 3.5 announcement)"),
    Config("flux", "FLUX.1 [dev]", FLUX1, 12.0, "FLUX.1 [dev] model card: 12 billion parameters", 512,
           "T5 512 (max_sequence_length)",
           gpu="RTX 4090: ~22 GB peak bf16, 30 steps at 1024 px in ~6 s; FP8 ~14 GB (gigagpu.com's benchmark)"),
    Config("flux-fill", "FLUX.1 Fill [dev]", FLUX1_FILL, 12.0, "FLUX.1 Fill [dev] model card: 12 billion parameters",
           512, "T5 512 (max_sequence_length)", gpu="as FLUX.1 [dev] (same transformer, 384 input channels)"),
    Config("chroma", "Chroma1-HD", CHROMA, 8.9, "Chroma1-HD model card: 8.9B parameters", 256,
           "T5 256 (the inpaint pipeline's max_sequence_length)",
           gpu="no published timing found; FLUX.1-class blocks, ~3/4 of FLUX.1's weights"),
    # The inpaint pipeline feeds the masked picture's latents as extra image tokens: 2 x 1024.
    Config("flux2-klein", "FLUX.2 [klein] 4B", KLEIN_4B, 4.0, "FLUX.2 [klein] 4B model card: 4 billion parameters",
           512, "Qwen3 512 (max_sequence_length)", image_tokens=2 * (LATENT // 2) ** 2,
           gpu="~13 GB VRAM with CPU offload (BFL's card); 4 steps at 1024 px in ~1.2 s on an RTX 5090 (ComfyUI)"),
    Config("z-image", "Z-Image Turbo", Z_IMAGE, 6.0, "Z-Image model card and paper: 6B parameters", PROMPT_TOKENS,
           f"Qwen3, the prompt's own ~{PROMPT_TOKENS} (not padded)",
           gpu="16 GB VRAM (model card); 8 steps at 1024 px in ~2.3 s on an RTX 4090 (launch reports)"),
    Config("qwen-image", "Qwen-Image", QWEN_IMAGE, 20.0, "Qwen-Image model card: a 20B MMDiT", PROMPT_TOKENS,
           f"Qwen2.5-VL, the prompt's own ~{PROMPT_TOKENS} (not padded)",
           gpu="~42 GB bf16 with its text encoder; ~22 GB FP8 (an RTX 4090, tight); 16 GB cards with offload"),
)}


def forwards_per_step(key: str) -> int:
    """Denoiser calls a step takes at the family's defaults: two with classifier-free guidance."""
    family = FAMILIES[key]
    return 2 if family.negative_prompt and family.guidance > 1 else 1


def denoiser_class(config: Config):
    import diffusers

    return getattr(diffusers, config.denoiser)


def build(config: Config, device: str, dtype):
    """The denoiser, built on `device` ("meta": shapes only) with its parameters in `dtype`."""
    import torch

    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            return denoiser_class(config)(**config.config)
    finally:
        torch.set_default_dtype(default)


def parameters(model) -> int:
    """What its checkpoint holds: the parameters and persistent buffers. The published
    counts count the file; SD 3.5's 384 x 384 positional table (226 M) is a buffer in
    diffusers but a tensor in the checkpoint."""
    return sum(t.numel() for t in model.state_dict().values())


def inputs(config: Config, device: str, dtype) -> tuple[tuple, dict[str, Any]]:
    """What the family's inpaint pipeline passes its denoiser at one step of a 512 px window
    (batch 1, conditional half only)."""
    import torch

    c = config.config
    text = config.text_tokens

    def rand(*shape):
        return torch.randn(*shape, device=device, dtype=dtype)

    t = torch.full((1,), 0.5, device=device, dtype=dtype)
    name = config.denoiser
    if name == "UNet2DConditionModel":
        kwargs = dict(sample=rand(1, c["in_channels"], LATENT, LATENT), timestep=torch.tensor([500], device=device),
                      encoder_hidden_states=rand(1, text, c["cross_attention_dim"]))
        if c.get("addition_embed_type") == "text_time":
            kwargs["added_cond_kwargs"] = {"text_embeds": rand(1, 1280), "time_ids": rand(1, 6)}
        return (), kwargs
    if name == "SD3Transformer2DModel":
        return (), dict(hidden_states=rand(1, c["in_channels"], LATENT, LATENT), timestep=t * 1000,
                        encoder_hidden_states=rand(1, text, c["joint_attention_dim"]),
                        pooled_projections=rand(1, c["pooled_projection_dim"]))
    if name in ("FluxTransformer2DModel", "ChromaTransformer2DModel", "Flux2Transformer2DModel"):
        axes = len(c["axes_dims_rope"])
        kwargs = dict(hidden_states=rand(1, config.image_tokens, c["in_channels"]), timestep=t,
                      encoder_hidden_states=rand(1, text, c["joint_attention_dim"]),
                      img_ids=torch.zeros(config.image_tokens, axes, device=device),
                      txt_ids=torch.zeros(text, axes, device=device))
        if name == "FluxTransformer2DModel":
            kwargs["pooled_projections"] = rand(1, c["pooled_projection_dim"])
        if c.get("guidance_embeds"):
            kwargs["guidance"] = torch.full((1,), 3.5, device=device, dtype=dtype)
        elif name == "Flux2Transformer2DModel":
            kwargs["guidance"] = None
        return (), kwargs
    if name == "ZImageTransformer2DModel":
        return ([rand(c["in_channels"], 1, LATENT, LATENT)], t, [rand(text, c["cap_feat_dim"])]), {}
    if name == "QwenImageTransformer2DModel":
        side = LATENT // c["patch_size"]
        return (), dict(hidden_states=rand(1, side * side, c["in_channels"]), timestep=t,
                        encoder_hidden_states=rand(1, text, c["joint_attention_dim"]),
                        encoder_hidden_states_mask=torch.ones(1, text, device=device, dtype=torch.long),
                        img_shapes=[[(1, side, side)]])
    raise ValueError(f"no inputs for {name}")


def meta_figures(config: Config) -> dict[str, Any]:
    """Parameters, weights' size in bf16, and the FLOPs of one forward: meta tensors only."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = build(config, "meta", torch.bfloat16)
    params = parameters(model)
    args, kwargs = inputs(config, "meta", torch.bfloat16)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*args, **kwargs)
    # On meta tensors SDPA runs its math path, whose matmuls (bmm) the counter sees.
    flops = counter.get_total_flops()
    return {
        "family": config.family, "model": config.model, "denoiser": config.denoiser,
        "params_b": round(params / 1e9, 3), "published_b": config.published_b,
        "params_vs_published_pct": round(100 * (params / 1e9 / config.published_b - 1), 1),
        "weights_gb_bf16": round(params * 2 / 2**30, 2), "tflop_forward": round(flops / 1e12, 2),
        "image_tokens": config.image_tokens, "text_tokens": config.text_tokens, "text": config.text_note,
        "forwards_per_step": forwards_per_step(config.family), "published": config.published,
        "typical_gpu": config.gpu,
    }


# --- the real thing, one family a process ----------------------------------------------


def native_bf16() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def measure(key: str, forwards: int) -> dict[str, Any]:
    """In this process: build `key`'s denoiser for real, run `forwards` forwards (the
    first a warm-up when there are two or more; the best of the rest counts; just one:
    it counts, oneDNN's kernel set-up included, little against a step of many seconds),
    and report this process's peak memory."""
    import torch

    config = CONFIGS[key]
    dtype = torch.bfloat16 if native_bf16() else torch.float32
    # One thread: on a shared machine another busy process stalls two threads' every
    # OpenMP barrier, and their spinning inflates even the CPU time; one thread's CPU
    # time is the step's own work on one core, whatever else runs.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        started = time.perf_counter()
        model = build(config, "cpu", dtype).eval()
        built = time.perf_counter() - started
        args, kwargs = inputs(config, "cpu", dtype)
        times, cpu = [], []
        with torch.inference_mode():
            for _ in range(forwards):
                started, used = time.perf_counter(), time.process_time()
                model(*args, **kwargs)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - used)
    finally:
        torch.set_num_threads(threads)
    best = min(range(1 if forwards > 1 else 0, forwards), key=cpu.__getitem__)
    # cpu_s_forward: this process's CPU time for that forward, the figure that counts;
    # s_forward, the wall clock, is as much more as the machine's other work took.
    return {"dtype": str(dtype).removeprefix("torch."), "threads": 1, "forwards": forwards, "build_s": round(built, 1),
            "s_forward": round(times[best], 2), "cpu_s_forward": round(cpu[best], 2), "s_first": round(times[0], 2),
            "cpu_s_first": round(cpu[0], 2), "load_avg": round(os.getloadavg()[0], 1),
            "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def measure_in_child(key: str, forwards: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure-one", key, "--forwards", str(forwards)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--run", nargs="*", default=[], metavar="FAMILY",
                        help=f"build these for real and time a step ('all': every one that fits); of {', '.join(CONFIGS)}")
    parser.add_argument("--forwards", type=int, default=2,
                        help="forwards a family run: the first warms up, the best of the rest counts (1: it counts)")
    parser.add_argument("--measure-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.forwards < 1:
        parser.error("--forwards must be at least 1")
    if args.measure_one:
        print(json.dumps(measure(args.measure_one, args.forwards)))
        return
    run = list(CONFIGS) if "all" in args.run else args.run
    unknown = [key for key in run if key not in CONFIGS]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(CONFIGS)}")
    rows = [meta_figures(config) for config in CONFIGS.values()]
    for row in rows:
        if row["family"] in run:
            need = 2 * row["weights_gb_bf16"]
            free = available_gb()
            if free < need:
                row["skipped"] = f"needs {need:.1f} GB free (2x its weights), {free:.1f} GB available"
            else:
                row.update(measure_in_child(row["family"], args.forwards))
    estimate(rows)
    print_table(rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2) + "\n")


def estimate(rows: list[dict[str, Any]]) -> None:
    """For rows not run, s/forward from their FLOPs at the FLOP rate measured here (the
    median of the measured transformers', else of all measured): marked as an estimate."""
    def rate(row):
        return row["tflop_forward"] / row["cpu_s_forward"]

    measured = [row for row in rows if "cpu_s_forward" in row]
    transformers = [row for row in measured if row["denoiser"] != "UNet2DConditionModel"]
    basis = sorted(rate(row) for row in (transformers or measured))
    if not basis:
        return
    median = basis[len(basis) // 2] if len(basis) % 2 else (basis[len(basis) // 2 - 1] + basis[len(basis) // 2]) / 2
    for row in rows:
        if "cpu_s_forward" not in row:
            row["cpu_s_forward_est"] = round(row["tflop_forward"] / median, 1)
            row["est_tflops_basis"] = round(median, 3)


def print_table(rows: list[dict[str, Any]]) -> None:
    print("One 512 px window step of each family's denoiser on this CPU, random weights. params: meta-device build;")
    print("s/fwd: one forward's CPU time on one core (est: from its TFLOP at the measured rate); s/step: at the")
    print("family's default guidance (two forwards with CFG); wall: the forward's wall clock on this shared machine.")
    print(f"CPU: {'native bf16 (AVX512-BF16 or AMX): runs in bf16' if native_bf16() else 'no native bf16: runs in fp32'}; "
          f"{os.cpu_count()} cores")
    print(f"{'family':<12} {'model':<19} {'params_B':>8} {'publ_B':>6} {'diff%':>6} {'bf16_GB':>7} "
          f"{'TFLOP':>6} {'peak_GB':>7} {'s/fwd':>10} {'s/step':>10} {'wall_s':>7}  how")
    for row in rows:
        measured = "cpu_s_forward" in row
        forward = row.get("cpu_s_forward", row.get("cpu_s_forward_est"))
        mark = "" if measured else " est"
        fwd = f"{forward:.1f}{mark}" if forward is not None else "-"
        step = f"{forward * forwards_per_step(row['family']):.1f}{mark}" if forward is not None else "-"
        peak = f"{row['peak_gb']:.1f}" if measured else "-"
        wall = f"{row['s_forward']:.1f}" if measured else "-"
        how = (f"measured, {row['dtype']}, 1 thread, {row['forwards']} fwd, load avg {row['load_avg']}" if measured
               else "meta build only; " + (row.get("skipped") or row.get("error") or "not run")
               + (f"; est at {row['est_tflops_basis']} TFLOP/s" if "cpu_s_forward_est" in row else ""))
        print(f"{row['family']:<12} {row['model']:<19} {row['params_b']:>8.3f} {row['published_b']:>6.2f} "
              f"{row['params_vs_published_pct']:>6.1f} {row['weights_gb_bf16']:>7.2f} {row['tflop_forward']:>6.2f} "
              f"{peak:>7} {fwd:>10} {step:>10} {wall:>7}  {how}")
    print()
    print("Typical GPU (published figures, NOT measured here):")
    for row in rows:
        print(f"  {row['family']:<12} {CONFIGS[row['family']].gpu}")


if __name__ == "__main__":
    main()
