"""The diffusion painter: a `Painter` (canvas.painters.base) over a model of any family
the table knows (families.py): SD 1.x/2.x/XL through our own loop (denoise.py), the others
through diffusers' own inpaint pipelines (pipeline_window.py).

    painter = DiffusionPainter(DiffusionSettings(model="./sd15-inpaint"))
    [rgb] = painter.paint(image, mask, PaintRequest(prompt="a park", seed=7, steps=20), print, CancelToken())
    painter.family.key, painter.label, painter.defaults   # "sd1", "SD 1.x · sd15-inpaint", {"steps": 25, ...}

The model loads once, here; a missing or wrong one is a `ModelError` at construction.
It repaints the seam band too (diffusion cannot keep pixels exactly), so the tiler blends
its output in with the feathered alpha; prefill and compositing stay the tiler's.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from canvas.library.errors import NotFound
from canvas.painters.base import CancelToken, Choice, Option, PaintProgress, PaintRequest, ProgressCallback
from canvas.painters.diffusion.denoise import LATENT_SCALE, Sampling, Window, inpaint, is_guided, sampled_steps
from canvas.painters.diffusion.embeddings import library_embeddings, load_embeddings
from canvas.painters.diffusion.families import FAMILIES, Family
from canvas.painters.diffusion.loading import LoadedModel, load_model, prepare
from canvas.painters.diffusion.lora_tags import find_loras, parse_lora_tags
from canvas.painters.diffusion.loras import PipelineLoras
from canvas.painters.diffusion.model_family import find_family
from canvas.painters.diffusion.pipeline_window import paint_window
from canvas.painters.diffusion.pipelines import (
    PipelineModel,
    check_offload,
    family_of_pipeline,
    load_pipeline_model,
    prepare_pipeline,
)
from canvas.painters.diffusion.preview import latents_to_rgb
from canvas.painters.diffusion.prompts import PromptCache
from canvas.painters.diffusion.schedulers import make_scheduler
from canvas.painters.diffusion.settings import (
    CHOICES,
    CONTROLNET_SCALES,
    PIPELINE_MASKED_CONTENT,
    DiffusionSettings,
    ModelError,
)
from tiler.masks import distance_l1

PREVIEWS = 8  # previews per candidate at most: a few, a cheap picture each, whatever the steps


class DiffusionPainter:
    name = "diffusion"
    repaints_band = True

    def __init__(self, settings: DiffusionSettings, pipeline: Any = None, library: Any = None,
                 offload_to: Any = None) -> None:
        """Loads `settings.model`; or paints with `pipeline`, a diffusers pipeline already
        in memory (SD or SDXL, or a family's inpaint pipeline; settings.model then only names it).
        `library` (canvas.library): where a prompt's LoRA tags are found; None: no LoRAs.
        `offload_to`: the accelerator of `--offload` (pipelines.prepare_pipeline; None: CUDA)."""
        self.settings = settings
        check_offload(settings, offload_to)  # before anything loads
        if pipeline is None:
            found = find_family(settings)
            if found.family.own_loop:
                self.model: LoadedModel | PipelineModel = load_model(settings)
            else:
                self.model = load_pipeline_model(settings, found)
        else:
            family = family_of_pipeline(pipeline)
            self.model = (prepare(pipeline, settings) if family is None
                          else prepare_pipeline(pipeline, family, settings, offload_to))
        if isinstance(self.model, LoadedModel) and settings.offload:
            raise ModelError(f"--offload is for the families diffusers' pipelines paint; {self.family_of_loop().label} "
                             "paints in our own loop: use --attention-slicing and --vae-tiling on a small GPU")
        self.family: Family = self.model.family if isinstance(self.model, PipelineModel) else self.family_of_loop()
        if isinstance(self.model, PipelineModel) and settings.embeddings:
            raise ModelError(f"--embeddings: textual inversions are for SD 1.x, 2.x and XL; {self.family.label} "
                             "has other text encoders")
        self.label = f"{self.family.label} · {_model_name(settings.model)}"
        # What the family does with a job's settings (the panel offers these, with these defaults).
        self.uses: tuple[str, ...] = self.family.uses
        self.defaults: dict[str, Any] = self.family.defaults
        self.native_window = self.model.native  # the window size the model was trained at
        self.library = library
        self.loras = PipelineLoras(self.model.pipeline)  # a job's LoRAs, on this model only while it paints
        # What a job may set (the server lists it in `welcome`), defaulting to this
        # painter's settings; the CLI's --scheduler and --masked-content are the same CHOICES.
        if isinstance(self.model, LoadedModel):
            # Textual inversions, by file name in a prompt (text_encoding.py reads them there):
            # those given (--embeddings) first, then the library's.
            self._scan = getattr(library, "scan", None)  # the library's scan whose embeddings are loaded
            self.embeddings = load_embeddings(self.model, (*settings.embeddings,
                                                           *library_embeddings(library, self.family.key)))
            self.prompts = PromptCache(self.model, embeddings=self.embeddings)
            self.OPTIONS: dict[str, Option | Choice] = {
                **{key: replace(choice, default=getattr(settings, key)) for key, choice in CHOICES.items()},
                "soft_mask": Option("Soft mask px (4-channel models)", 0, 128, settings.soft_mask),
            }
            if self.model.controlnet is not None:
                self.OPTIONS["controlnet_scale"] = Option("ControlNet scale", *CONTROLNET_SCALES, settings.controlnet_scale)
        else:
            # Only what the family's pipeline has: no sampler choice (the pipeline's own
            # flow-matching scheduler), the prefill as the masked part's start, and the
            # soft seam where the painter blends (pipeline_window.py).
            self.OPTIONS = {"masked_content": Choice("Masked content", PIPELINE_MASKED_CONTENT, settings.masked_content)}
            if self.family.blend == "latent blend":
                self.OPTIONS["soft_mask"] = Option("Soft mask px", 0, 128, settings.soft_mask)
        # One window at a time: schedulers and the model's attention state are not shared safely.
        self._lock = threading.Lock()

    @property
    def embedding_files(self) -> dict[str, str]:
        """The embeddings a prompt may name, {name: file}: what a job's record hashes for
        A1111's "TI hashes" (canvas/library/records.py)."""
        embeddings = getattr(self, "embeddings", None)
        return {e.name: str(e.path) for e in embeddings.loaded.values()} if embeddings is not None else {}

    def family_of_loop(self) -> Family:
        """SD 1.x, 2.x or XL, for a model our own loop paints."""
        assert isinstance(self.model, LoadedModel)
        if self.model.xl:
            return FAMILIES["sdxl"]
        width = self.model.pipeline.unet.config.cross_attention_dim
        return FAMILIES["sd2" if width == 1024 else "sd1"]

    def describe(self) -> dict[str, Any]:
        settings = self.settings
        if isinstance(self.model, PipelineModel):
            described: dict[str, Any] = {"painter": self.name, "model": settings.model, "family": self.family.key}
            if self.model.hash:
                described["model_hash"] = self.model.hash
            if settings.model_config:
                described["model_config"] = settings.model_config
            described["masked_content"] = settings.masked_content
            if "soft_mask" in self.OPTIONS:
                described["soft_mask"] = settings.soft_mask
            if settings.offload:
                described["offload"] = settings.offload
            described["dtype"] = str(self.model.dtype).removeprefix("torch.")
            return described
        described = {"painter": self.name, "model": settings.model, "model_kind": self.model.kind,
                     "family": self.family.key}
        if self.model.hash:
            described["model_hash"] = self.model.hash
        if settings.vae:
            described["vae"] = settings.vae
        described.update(scheduler=settings.scheduler, masked_content=settings.masked_content)
        if not self.model.inpainting:
            described["soft_mask"] = settings.soft_mask
        if self.model.controlnet is not None:
            described.update(controlnet=settings.controlnet, controlnet_scale=settings.controlnet_scale)
        described["dtype"] = str(self.model.dtype).removeprefix("torch.")
        return described

    def paint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        request: PaintRequest,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> list[np.ndarray]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or mask.shape != image.shape[:2]:
            raise ValueError(f"expected uint8 HxWx3 and a bool HxW mask, got {image.dtype} {image.shape} and {mask.shape}")
        settings = self.settings.with_options(request.options)
        # LoRA tags out of the prompt, found and checked against the family before anything
        # paints (lora_tags.py); they act on this window only, the next without them paints
        # as if they had never been loaded (loras.py).
        tagged = parse_lora_tags(request.prompt)
        try:
            loras = find_loras(self.library, tagged.loras, self.family.key)
        except NotFound:
            # A LoRA added since this library scanned: a painter process or actor keeps a
            # library of its own, and the server found it in a rescan of its own.
            self.library.rescan()
            loras = find_loras(self.library, tagged.loras, self.family.key)
        request = replace(request, prompt=tagged.prompt)
        with self._lock:
            self._new_embeddings()  # outside inference mode, as diffusers' loader needs
            self.loras.use(loras)  # outside inference mode: peft fills new adapters in place
            with torch.inference_mode():
                if isinstance(self.model, PipelineModel):
                    return self._paint_pipeline(image, np.asarray(mask, bool), request, settings, progress, cancel)
                return self._paint(image, np.asarray(mask, bool), request, settings, progress, cancel)

    def _new_embeddings(self) -> None:
        """The embeddings a rescan of the library found since this model loaded, loaded
        before the window encodes its prompt (A1111 too reads its folder again when it
        changes). Files already loaded or skipped are not read again; one removed stays
        loaded until the model is."""
        if self.library is None or not isinstance(self.model, LoadedModel) or self.library.scan is self._scan:
            return
        self._scan = self.library.scan
        seen = {e.path for e in self.embeddings.loaded.values()} | {path for path, _ in self.embeddings.skipped}
        new = [path for path in library_embeddings(self.library, self.family.key) if path not in seen]
        if new:
            self.embeddings.load(self.model, new)

    def _paint_pipeline(self, image: np.ndarray, mask: np.ndarray, request: PaintRequest, settings: DiffusionSettings,
                        progress: ProgressCallback, cancel: CancelToken) -> list[np.ndarray]:
        assert isinstance(self.model, PipelineModel)
        candidates = max(1, request.candidates)
        soft_mask = settings.soft_mask if "soft_mask" in self.OPTIONS else 0
        results = []
        for index in range(candidates):
            def on_step(done: int, total: int, preview: np.ndarray | None, index: int = index) -> None:
                progress(PaintProgress(step=index * total + done, steps=candidates * total, preview=preview))

            # Candidate i paints with seed + i, as in our own loop and PatchMatch.
            results.append(paint_window(self.model, image, mask, request, soft_mask, index,
                                        cancel.raise_if_cancelled, on_step))
        return results

    def _paint(self, image: np.ndarray, mask: np.ndarray, request: PaintRequest, settings: DiffusionSettings,
               progress: ProgressCallback, cancel: CancelToken) -> list[np.ndarray]:
        model = self.model
        h, w = image.shape[:2]
        window = self._window(image, mask, settings.soft_mask)
        text = self.prompts.get(request.prompt, request.negative_prompt, is_guided(model, request.guidance), self.loras.key)
        candidates = max(1, request.candidates)
        steps = sampled_steps(request.steps, request.strength)
        every = max(1, -(-steps // PREVIEWS))
        results = []
        for index in range(candidates):
            sampling = Sampling(
                scheduler=make_scheduler(settings.scheduler, model.pipeline.scheduler.config),
                steps=request.steps,
                strength=request.strength,
                guidance=request.guidance,
                masked_content=settings.masked_content,
                controlnet_scale=settings.controlnet_scale,
            )
            # Candidates add their index to the window's seed (as PatchMatch does): candidate
            # 0 is the same picture whether one or four are asked for.
            generator = torch.Generator("cpu").manual_seed(request.seed + index)

            def on_step(done: int, total: int, latents: torch.Tensor, index: int = index) -> None:
                preview = latents_to_rgb(latents, model.xl) if done % every == 0 or done == total else None
                progress(PaintProgress(step=index * total + done, steps=candidates * total, preview=preview))

            painted = inpaint(model, window, text, sampling, generator, cancel.raise_if_cancelled, on_step)
            results.append(_to_rgb(painted)[:h, :w])
        return results

    def _window(self, image: np.ndarray, mask: np.ndarray, soft_mask: int) -> Window:
        """Tensors for one window, padded to whole latent pixels (windows are multiples of
        64 already; any other size is padded by repeating its edge)."""
        h, w = mask.shape
        pad = ((0, -h % LATENT_SCALE), (0, -w % LATENT_SCALE))
        if any(after for _, after in pad):
            image = np.pad(image, pad + ((0, 0),), mode="edge")
            mask = np.pad(mask, pad, mode="edge")
        device = self.model.device
        pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device).float() / 127.5 - 1
        hard = torch.from_numpy(mask.astype(np.float32))[None, None].to(device)
        return Window(pixels=pixels, mask=hard, blend=_blend(mask, soft_mask).to(device))


def _model_name(model: str) -> str:
    """How the label names a model: a file's stem, a folder's or a hub id's last part."""
    path = Path(model.rstrip("/\\"))
    return path.stem if path.suffix.lower() in (".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin") else path.name


def _blend(mask: np.ndarray, soft_mask: int) -> torch.Tensor:
    """Latent-size share of new content for 4-channel models: 0 outside the mask, rising
    from the mask's edge to 1 at `soft_mask` px inside it, so the band next to known
    pixels is denoised less (0 px: every latent pixel that touches the mask is new)."""
    hard = torch.from_numpy(mask.astype(np.float32))[None, None]
    if soft_mask == 0:
        return F.max_pool2d(hard, LATENT_SCALE)
    inside = distance_l1(~mask).astype(np.float32)  # 0 outside the mask, 1 on its edge
    ramp = np.clip(inside / soft_mask, 0.0, 1.0)
    return F.avg_pool2d(torch.from_numpy(ramp)[None, None], LATENT_SCALE)


def _to_rgb(pixels: torch.Tensor) -> np.ndarray:
    rgb = ((pixels[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rgb.permute(1, 2, 0).cpu().numpy()
