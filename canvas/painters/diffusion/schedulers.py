"""Samplers by the names people know from other tools, built from the model's own config.

    scheduler = make_scheduler("DPM++ 2M Karras", pipeline.scheduler.config)

A fresh scheduler per window: they keep per-run state (step index, past model outputs),
and building one from a config takes microseconds.
"""

from __future__ import annotations

from typing import Any

from canvas.painters.diffusion.settings import SCHEDULERS, canonical

# name -> (diffusers class, settings over the model's config)
_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LCM": ("LCMScheduler", {}),
}
assert tuple(_KINDS) == SCHEDULERS


def make_scheduler(name: str, config: Any) -> Any:
    import diffusers

    class_name, overrides = _KINDS[canonical(name, SCHEDULERS, "scheduler")]
    return getattr(diffusers, class_name).from_config(config, **overrides)
