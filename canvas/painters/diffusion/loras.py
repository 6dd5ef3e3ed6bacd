"""LoRAs on one loaded pipeline, for one job: applied before its windows, gone after.

    loras = PipelineLoras(model.pipeline)
    loras.use([(tag, entry)])       # <lora:ink:0.8>: loaded (once), active at 0.8
    loras.use([])                   # paints bit for bit as if no LoRA had ever been loaded

diffusers does the work (`load_lora_weights`: kohya/A1111 files and diffusers' own, converted
on load; it needs peft): each LoRA is a named peft adapter beside the original layers, and
`set_adapters` picks which adapters act, at which weights (A1111's two: the text encoders'
and the denoiser's).

Loaded adapters are kept, up to `keep`, while windows without them paint: peft's layers
then compute the original layer's output and add nothing (`disable_lora`), the very same
operations on the very same weights, so the pixels are bit for bit those of a pipeline
that never saw a LoRA (tests/test_loras.py checks it) and switching back costs nothing,
where loading again reads and converts the file (bench/library.py measures both). Beyond
`keep` the least recently used adapter is deleted; `unload` takes every one out and
restores the original layers themselves.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch

from canvas.painters.diffusion.loading import _quiet, first_line
from canvas.painters.diffusion.settings import ModelError

if TYPE_CHECKING:
    from canvas.library import Entry
    from canvas.painters.diffusion.lora_tags import LoraTag

KEEP_ADAPTERS = 4  # LoRAs kept loaded while unused (a few MB to a few hundred each)
DENOISERS = ("unet", "transformer", "transformer_2")  # the rest of a pipeline's LoRA modules are text encoders

FileKey = tuple[str, int, int]  # path, size, mtime: a file changed on disk loads again


class PipelineLoras:
    def __init__(self, pipeline: Any, keep: int = KEEP_ADAPTERS) -> None:
        self.pipeline = pipeline
        self.keep = keep
        self._adapters: OrderedDict[FileKey, str] = OrderedDict()  # loaded, least recently used first
        self._names = (f"lora{n}" for n in range(1 << 30))  # peft adapter names: no '.' or '/'
        self.active: tuple[tuple[str, float, float], ...] = ()  # (adapter, te, unet) acting now

    @property
    def key(self) -> tuple:
        """What the text encoders are now, as far as LoRAs go: part of a prompt cache's key."""
        return tuple((self._path_of(adapter), te) for adapter, te, _ in self.active if te != 0)

    def use(self, loras: Sequence[tuple["LoraTag", "Entry"]]) -> None:
        """Make exactly `loras` act, at their tags' weights (none: the original pipeline).
        A file diffusers cannot read as a LoRA of this pipeline is a ModelError."""
        wanted = []
        for tag, entry in loras:
            adapter = self._load(entry)
            wanted.append((adapter, tag.te, tag.unet))
        wanted_t = tuple(wanted)
        if wanted_t == self.active:
            return
        with _quiet():
            if not wanted_t:
                self.pipeline.disable_lora()
            else:
                self.pipeline.enable_lora()
                self.pipeline.set_adapters([a for a, _, _ in wanted_t], [self._weights(te, unet) for _, te, unet in wanted_t])
        self.active = wanted_t
        self._trim()

    def unload(self) -> None:
        """Every adapter out, the original layers back in their places."""
        if self._adapters:
            with _quiet():
                self.pipeline.unload_lora_weights()
        self._adapters.clear()
        self.active = ()

    @property
    def loaded(self) -> list[str]:
        """The files loaded now, least recently used first."""
        return [path for path, _, _ in self._adapters]

    def _load(self, entry: "Entry") -> str:
        stat = Path(entry.path).stat()
        key = (str(entry.path), stat.st_size, stat.st_mtime_ns)
        if key in self._adapters:
            self._adapters.move_to_end(key)
            return self._adapters[key]
        adapter = next(self._names)
        try:
            with _quiet(), _outside_inference():
                self.pipeline.load_lora_weights(str(entry.path), adapter_name=adapter)
        except Exception as exc:  # diffusers raises many kinds for a file it cannot map
            with contextlib.suppress(Exception):
                self.pipeline.delete_adapters(adapter)  # half-injected layers, if any
            raise ModelError(f"LoRA {entry.name!r} cannot be applied to this model: {first_line(exc)}") from exc
        self._adapters[key] = adapter
        return adapter

    def _weights(self, te: float, unet: float) -> float | dict[str, float]:
        if te == unet:
            return unet
        modules = getattr(self.pipeline, "_lora_loadable_modules", ())
        return {module: (unet if module in DENOISERS else te) for module in modules}

    def _trim(self) -> None:
        """Delete the least recently used adapters beyond `keep` that do not act now."""
        acting = {adapter for adapter, _, _ in self.active}
        idle = [key for key, adapter in self._adapters.items() if adapter not in acting]
        while len(self._adapters) > max(self.keep, len(acting)) and idle:
            key = idle.pop(0)
            with _quiet():
                self.pipeline.delete_adapters(self._adapters.pop(key))

    def _path_of(self, adapter: str) -> str:
        return next((path for (path, _, _), name in self._adapters.items() if name == adapter), adapter)


@contextlib.contextmanager
def _outside_inference() -> Iterator[None]:
    """Adapters are made as ordinary tensors even when asked from inside a painter's
    inference mode: peft writes into them in place while loading."""
    with torch.inference_mode(False), torch.no_grad():
        yield
