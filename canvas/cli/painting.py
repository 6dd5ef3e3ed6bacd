"""Painters from command-line arguments: which options reach which painter, and the checks
that turn a forgotten `--painter diffusion` or `--model` into one line before anything loads.

    options = painter_options(args, ["diffusion"])   # {"diffusion": {"model": ..., ...}}
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable, Mapping

from canvas.cli.errors import UserError

DIFFUSION = "diffusion"
# Model options only the diffusion painter takes (argparse dest -> DiffusionSettings field).
MODEL_OPTIONS = ("model", "model_config", "offline", "device", "dtype", "vae", "scheduler", "masked_content",
                 "soft_mask", "controlnet", "controlnet_scale", "embeddings", "attention_slicing", "vae_tiling",
                 "offload", "models", "keep_models", "model_memory")


def painter_options(args: argparse.Namespace, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Construction options for each painter in `names`, checked: `--model` goes with the
    diffusion painter, and the diffusion painter needs one."""
    names = list(names)
    if DIFFUSION in names:
        if not args.model:
            raise UserError("--painter diffusion needs --model: a hub id, a diffusers folder or a .safetensors file")
        _check_diffusion(args)
    elif args.model:
        raise UserError("--model is for the diffusion painter: add --painter diffusion")
    elif args.controlnet:
        raise UserError("--controlnet steers a Stable Diffusion model: add --painter diffusion --model MODEL")
    elif args.embeddings:
        raise UserError("--embeddings are for a Stable Diffusion model: add --painter diffusion --model MODEL")
    elif args.models:
        raise UserError("--models is for the diffusion painter: add --painter diffusion --model NAME")
    options: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == DIFFUSION:
            options[name] = _model_options(args)
        elif name == "patchmatch" and hasattr(args, "patch_size"):
            options[name] = {"patch_size": args.patch_size}
    return options


def _check_diffusion(args: argparse.Namespace) -> None:
    """The names and numbers DiffusionSettings checks, checked now, without torch."""
    from canvas.painters.diffusion import DiffusionSettings, ModelError

    try:
        DiffusionSettings(**_model_options(args))
    except ModelError as exc:
        raise UserError(str(exc)) from None


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    options = {key: getattr(args, key) for key in MODEL_OPTIONS}
    options["models"] = tuple(args.models or ())
    return options


MAX_PAINTERS = 64


def uses_pool(args: argparse.Namespace) -> bool:
    """Whether the windows are painted elsewhere (`--painters N` > 1, or `--ray`), checked."""
    if not 1 <= args.painters <= MAX_PAINTERS:
        raise UserError(f"--painters must be between 1 and {MAX_PAINTERS}, got {args.painters}")
    return args.painters > 1 or bool(args.ray)


def painter_pool(args: argparse.Namespace, name: str, options: Mapping[str, Any], timeout: float | None = None) -> Any:
    """`--painters` painters named `name` (processes, or Ray actors with `--ray`), each
    built once with `options`; a painter that cannot be built is one line."""
    from canvas.jobs.pool import open_pool
    from canvas.painters.diffusion import ModelError

    try:
        return open_pool(name, options, painters=args.painters, ray=args.ray, timeout=timeout)
    except ModuleNotFoundError as exc:
        if args.ray:
            raise UserError(f"--ray needs Ray (pip install 'boundless-canvas[ray]'): {exc}") from None
        raise
    except (ModelError, ValueError) as exc:
        raise UserError(f"--painter {name}: {exc}") from None
