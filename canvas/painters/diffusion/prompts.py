"""Text embeddings, computed once per prompt: a job's windows share one prompt, so the text
encoders run for its first window only (SDXL's two encoders cost a GPU step's worth).

    cache = PromptCache(model)
    text = cache.get("a park", "blurry", guided=True)   # encoded
    text = cache.get("a park", "blurry", guided=True)   # the same tensors, no work
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from canvas.painters.diffusion.loading import LoadedModel

CACHED_PROMPTS = 8  # a few jobs' worth: switching back and forth between prompts stays free


@dataclass(frozen=True)
class TextConditioning:
    """What the UNet is conditioned on: rows are [negative, prompt] when guided, [prompt] when not."""

    embeds: torch.Tensor  # (rows, 77, D)
    pooled: torch.Tensor | None  # (rows, P): SDXL's pooled text embedding, else None


class PromptCache:
    def __init__(self, model: LoadedModel, size: int = CACHED_PROMPTS) -> None:
        self.model = model
        self.size = size
        self._cache: OrderedDict[tuple[str, str, bool], TextConditioning] = OrderedDict()

    def get(self, prompt: str, negative: str, guided: bool) -> TextConditioning:
        # The model is fixed per painter (and per cache), so the key needs only the texts.
        key = (prompt, negative, guided)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        text = encode(self.model, prompt, negative, guided)
        self._cache[key] = text
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return text


def encode(model: LoadedModel, prompt: str, negative: str, guided: bool) -> TextConditioning:
    """The pipeline's own prompt encoding (its truncation, clip skip and SDXL's zeroed empty
    negative prompt), without running the pipeline."""
    pipeline = model.pipeline
    # None, not "": SDXL then uses zeros for the unconditional row, as it was trained.
    negative_prompt = negative or None
    if model.xl:
        embeds, negative_embeds, pooled, negative_pooled = pipeline.encode_prompt(
            prompt, device=model.device, num_images_per_prompt=1,
            do_classifier_free_guidance=guided, negative_prompt=negative_prompt,
        )
    else:
        embeds, negative_embeds = pipeline.encode_prompt(
            prompt, model.device, 1, guided, negative_prompt=negative_prompt,
        )
        pooled = negative_pooled = None
    if guided:
        embeds = torch.cat([negative_embeds, embeds])
        pooled = None if pooled is None else torch.cat([negative_pooled, pooled])
    return TextConditioning(embeds.to(model.dtype), None if pooled is None else pooled.to(model.dtype))
