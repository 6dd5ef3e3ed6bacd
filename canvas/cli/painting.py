"""Painters from command-line arguments: which options reach which painter, and the checks
that turn a forgotten `--painter diffusion` or `--model` into one line before anything loads.

    options = painter_options(args, ["diffusion"])   # {"diffusion": {"model": ..., ...}}
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable

from canvas.cli.errors import UserError

DIFFUSION = "diffusion"
# Model options only the diffusion painter takes (argparse dest -> DiffusionSettings field).
MODEL_OPTIONS = ("model", "model_config", "offline", "device", "dtype", "vae", "scheduler", "masked_content",
                 "soft_mask", "controlnet", "controlnet_scale", "attention_slicing", "vae_tiling")


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
    options: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == DIFFUSION:
            options[name] = {key: getattr(args, key) for key in MODEL_OPTIONS}
        elif name == "patchmatch" and hasattr(args, "patch_size"):
            options[name] = {"patch_size": args.patch_size}
    return options


def _check_diffusion(args: argparse.Namespace) -> None:
    """The names and numbers DiffusionSettings checks, checked now, without torch."""
    from canvas.painters.diffusion import DiffusionSettings, ModelError

    try:
        DiffusionSettings(**{key: getattr(args, key) for key in MODEL_OPTIONS})
    except ModelError as exc:
        raise UserError(str(exc)) from None
