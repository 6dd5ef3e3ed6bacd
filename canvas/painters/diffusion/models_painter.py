"""The diffusion painter over a models library: the default model (`--model`) and any other
a job names, by library name, each loaded once and kept in an LRU (model_cache.py).

    painter = ModelsPainter(DiffusionSettings(model="sd15/realistic", models=("~/stable-diffusion-webui",)))
    painter.paint(image, mask, PaintRequest(prompt="<lora:ink:0.8> a park", model="xl/juggernaut"), progress, cancel)

Each loaded model is a `DiffusionPainter` of its own, with its own lock: a job painting
with model A never waits while model B loads for another job (the load runs in the
thread that asked for it, holding no painter's lock). `prepare` loads a job's model
before its windows are handed to a pool, from the job's own thread, so a load does not
occupy the painter thread other canvases' windows paint on. Loading is reported to the
job as a `PaintProgress` with `loading` set (step 0 of 1, then 1 of 1): the server relays
it to every viewer of each canvas whose job waits for that model. A job cancelled while
its model loads stops waiting at once; the load finishes into the cache for later jobs.

What the server and the history read of the painter (options, native window, family,
label, description) is the default model's; a job naming another model records that one
(canvas/library/records.py).
"""

from __future__ import annotations

import gc
import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from canvas.library import Library, LibraryError, NotFound
from canvas.painters.base import CancelToken, PaintProgress, PaintRequest, ProgressCallback
from canvas.painters.diffusion.loading import locate, resolve_device
from canvas.painters.diffusion.model_cache import ModelCache
from canvas.painters.diffusion.painter import DiffusionPainter
from canvas.painters.diffusion.settings import DiffusionSettings, ModelError

# What a profile (canvas/jobs/pool.py), the server and the panel read of a painter.
PROFILE = ("OPTIONS", "native_window", "family", "label", "uses", "defaults", "embedding_files")
GB = 1024**3


class ModelsPainter:
    name = "diffusion"
    repaints_band = True

    def __init__(self, settings: DiffusionSettings, library: Library | None = None) -> None:
        """Scans `settings.models` (or uses `library`) and loads the default model; a
        ModelError (one line) when it cannot."""
        self.settings = settings
        try:
            self.library = library if library is not None else Library(settings.models)
        except LibraryError as exc:
            raise ModelError(f"--models {exc}") from None
        self.default = self._default_key(settings.model)
        device = resolve_device(settings.device)
        budget = int(settings.model_memory * GB) if settings.model_memory else None
        self.cache: ModelCache[DiffusionPainter] = ModelCache(
            self._load, size_of=model_bytes, keep=settings.keep_models, budget=budget,
            room=None if budget else lambda: device_room(device), expected=self._expected, dropped=_free)
        first = self.cache.get(self.default)
        for attribute in PROFILE:
            if hasattr(first, attribute):
                setattr(self, attribute, getattr(first, attribute))
        self._described = {**first.describe(), "model": self.default}
        if "family" not in self._described and self._in_library(self.default):
            self._described["family"] = self.library.find_model(self.default).family

    def describe(self) -> dict[str, Any]:
        return dict(self._described)

    def paint(self, image: np.ndarray, mask: np.ndarray, request: PaintRequest, progress: ProgressCallback,
              cancel: CancelToken) -> list[np.ndarray]:
        return self.painter_for(request.model, progress, cancel).paint(image, mask, request, progress, cancel)

    def prepare(self, request: PaintRequest, progress: ProgressCallback, cancel: CancelToken | None = None) -> None:
        """Load the job's model now, if it is not loaded (the job runner calls this from the
        job's thread before any window is handed out)."""
        self.painter_for(request.model, progress, cancel)

    def painter_for(self, model: str | None, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> DiffusionPainter:
        """The painter of `model` (a library name; None: the default), loaded if need be.
        A cancel raises Cancelled at once, while the load goes on into the cache
        (model_cache.py says why): other jobs may be waiting for the same model."""
        key = self.default if model is None else self.model_entry(model).name

        def waiting(state: str, name: str) -> None:
            if progress is not None:
                progress(PaintProgress(step=int(state == "loaded"), steps=1, loading=name))

        return self.cache.get(key, waiting, None if cancel is None else cancel.raise_if_cancelled)

    def model_entry(self, name: str) -> Any:
        """The library's entry of `name`. A name it does not know makes it scan again first:
        a painter process or actor keeps a library of its own, and the server may have
        found the model in a rescan of its own since."""
        try:
            try:
                return self.library.find_model(name)
            except NotFound:
                self.library.rescan()
                return self.library.find_model(name)
        except LibraryError as exc:
            raise ModelError(str(exc)) from None

    def _default_key(self, model: str) -> str:
        """The default model's key: its library name, or (not in the library) the path given."""
        try:
            return self.library.find_model(model).name
        except LibraryError as missing:
            try:
                locate(model)
            except ModelError:
                raise ModelError(f"--model {model}: {missing}, and no such file or folder") from None
            return model

    def _load(self, key: str) -> DiffusionPainter:
        if key == self.default and not self._in_library(key):
            return DiffusionPainter(self.settings, library=self.library)  # --model a path, beside a library
        entry = self.library.find_model(key)
        if key == self.default:  # every setting given is the default model's
            return DiffusionPainter(replace(self.settings, model=str(entry.path)), library=self.library)
        return DiffusionPainter(self._settings_for(entry), library=self.library)

    def _settings_for(self, entry: Any) -> DiffusionSettings:
        """The default settings for another model: its own file; the default model's config
        folder, VAE and ControlNet only where they fit it (the same family)."""
        settings = self.settings
        default_family = self._described_family()
        same = entry.family is not None and entry.family == default_family
        return replace(settings, model=str(entry.path), model_config=settings.model_config if same else None,
                       vae=settings.vae if same else None, controlnet=settings.controlnet if same else None)

    def _described_family(self) -> str | None:
        described = getattr(self, "_described", None)
        if described is not None:
            return described.get("family") or _family_of_kind(described.get("model_kind"))
        return None

    def _in_library(self, key: str) -> bool:
        try:
            self.library.find_model(key)
            return True
        except LibraryError:
            return False

    def _expected(self, key: str) -> int:
        try:
            return self.library.find_model(key).size
        except LibraryError:
            path = Path(key).expanduser()
            return path.stat().st_size if path.is_file() else 0


def _family_of_kind(kind: str | None) -> str | None:
    """SD's family from a loaded model's kind (sd, sdxl-inpainting, ...), where the
    description has no family."""
    if not kind:
        return None
    return "sdxl" if kind.startswith("sdxl") else "sd1"


def model_bytes(painter: Any) -> int:
    """Bytes of a loaded model's weights and buffers, every component once."""
    seen: set[int] = set()
    total = 0
    components = getattr(painter.model.pipeline, "components", {})
    for component in components.values():
        if isinstance(component, torch.nn.Module):
            for tensor in itertools.chain(component.parameters(), component.buffers()):
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    total += tensor.numel() * tensor.element_size()
    return total


def device_room(device: torch.device) -> int | None:
    """Bytes free for another model on `device`: on CUDA the driver's free memory and what
    PyTorch holds unused; on a CPU the system's available memory; None where unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def _free(painter: Any) -> None:
    """A dropped model's memory back to the device (once no window paints with it)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
