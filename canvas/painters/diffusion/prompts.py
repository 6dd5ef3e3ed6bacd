"""Text embeddings, computed once per prompt: a job's windows share one prompt, so the text
encoders run for its first window only (SDXL's two encoders cost a GPU step's worth).

    cache = PromptCache(model, embeddings=painter.embeddings)   # embeddings.py: what names mean
    text = cache.get("a park", "blurry", guided=True)   # encoded
    text = cache.get("a park", "blurry", guided=True)   # the same tensors, no work
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from canvas.painters.diffusion.embeddings import Embeddings
from canvas.painters.diffusion.loading import LoadedModel
from canvas.painters.diffusion.text_encoding import encode_text

CACHED_PROMPTS = 8  # a few jobs' worth: switching back and forth between prompts stays free


@dataclass(frozen=True)
class TextConditioning:
    """What the UNet is conditioned on: rows are [negative, prompt] when guided, [prompt] when not."""

    embeds: torch.Tensor  # (rows, 77 x chunks, D): a long prompt or a BREAK takes several chunks
    pooled: torch.Tensor | None  # (rows, P): SDXL's pooled text embedding, else None


class PromptCache:
    def __init__(self, model: LoadedModel, size: int = CACHED_PROMPTS, embeddings: Embeddings | None = None) -> None:
        self.model = model
        self.size = size
        self.embeddings = embeddings  # what names mean in a prompt: part of the key
        self._cache: OrderedDict[tuple, TextConditioning] = OrderedDict()

    def get(self, prompt: str, negative: str, guided: bool, adapters: tuple = ()) -> TextConditioning:
        """`adapters`: the LoRAs acting on the text encoders now (loras.py's `key`)."""
        # The model is fixed per cache; the embeddings loaded into it may grow.
        key = (prompt, negative, guided, self.embeddings.key if self.embeddings else (), adapters)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        text = encode(self.model, prompt, negative, guided)
        self._cache[key] = text
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return text


def encode(model: LoadedModel, prompt: str, negative: str, guided: bool) -> TextConditioning:
    """Both prompts through the text encoders, A1111's way (text_encoding.py): weights,
    BREAK and any length; a plain prompt encodes to the pipeline's own `encode_prompt` tensors."""
    embeds, pooled = encode_text(model, prompt, negative, guided)
    return TextConditioning(embeds.to(model.dtype), None if pooled is None else pooled.to(model.dtype))
