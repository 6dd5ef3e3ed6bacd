"""A prompt through the CLIP text encoders as Automatic1111 encodes it: weighted, and in
chunks of 75 tokens for any length (weighting.py parses and chunks; this runs the encoders).

    embeds, pooled = encode_text(model, "a (red:1.3) car BREAK at night", "blurry", guided=True)
    embeds.shape  # (2, 154, D): [negative, prompt], two chunks each

Each chunk is one pass of each text encoder, exactly as the pipeline's `encode_prompt`
runs it (the same token ids, the same hidden layer): a prompt of one chunk without weights
encodes to the pipeline's own tensors. A weighted chunk's hidden states are multiplied
token by token by their weights, then scaled back to the chunk's original mean (A1111's
"Original" emphasis). SDXL weights each encoder's states on their own, as A1111 does, and
takes its pooled embedding from the first chunk. The side with fewer chunks (prompt or
negative) is padded with empty-prompt chunks; SDXL's empty negative prompt stays zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from canvas.painters.diffusion.loading import LoadedModel
from canvas.painters.diffusion.weighting import Chunk, TokenIds, empty_chunk, make_chunks, parse_prompt_attention


@dataclass
class _Encoder:
    tokenizer: Any
    text_encoder: Any
    xl: bool  # SDXL: the penultimate hidden layer, and a pooled embedding from the projection model

    @cached_property
    def ids(self) -> TokenIds:
        tokenizer = self.tokenizer
        end = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        return TokenIds(start=tokenizer.bos_token_id, end=end, pad=end if pad is None else pad,
                        comma=tokenizer.get_vocab().get(",</w>"))

    def chunks(self, prompt: str) -> list[Chunk]:
        runs = parse_prompt_attention(prompt)
        tokenized = self.tokenizer([text for text, _ in runs], add_special_tokens=False, truncation=False,
                                   verbose=False)["input_ids"]
        return make_chunks(runs, tokenized, self.ids, multi_vector_tokens(self.tokenizer))

    def encode(self, chunk: Chunk, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(1, 77, D) hidden states of one chunk, weighted; and SDXL's pooled (1, P) or None."""
        ids = torch.tensor([chunk.tokens], device=device)
        if self.xl:
            out = self.text_encoder(ids, output_hidden_states=True)
            pooled = out[0] if out[0].ndim == 2 else None
            hidden = out.hidden_states[-2]
        else:
            mask = None
            if getattr(self.text_encoder.config, "use_attention_mask", False):
                length = chunk.tokens.index(self.ids.end) + 1  # start, tokens, end: the rest is padding
                mask = torch.tensor([[1] * length + [0] * (len(chunk.tokens) - length)], device=device)
            hidden, pooled = self.text_encoder(ids, attention_mask=mask)[0], None
        if chunk.weighted:
            hidden = emphasize(hidden, chunk.multipliers)
        return hidden, pooled


def encode_text(model: LoadedModel, prompt: str, negative: str, guided: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Embeddings (rows, 77 x chunks, D), rows [negative, prompt] when guided, else
    [prompt]; and SDXL's pooled (rows, P), else None."""
    pipeline = model.pipeline
    encoders = [_Encoder(pipeline.tokenizer, pipeline.text_encoder, model.xl)]
    if model.xl:
        encoders.append(_Encoder(pipeline.tokenizer_2, pipeline.text_encoder_2, True))
    # SDXL was trained with zeros, not an encoded "", for no negative prompt (as the pipeline does).
    zeroed = model.xl and not negative and bool(getattr(pipeline.config, "force_zeros_for_empty_prompt", False))
    texts = [prompt] + ([negative] if guided and not zeroed else [])
    chunked = [[encoder.chunks(text) for encoder in encoders] for text in texts]
    count = max(len(chunks) for side in chunked for chunks in side)
    sides = []
    for side in chunked:
        states, pooled = [], None
        for encoder, chunks in zip(encoders, side):
            chunks = chunks + [empty_chunk(encoder.ids)] * (count - len(chunks))
            encoded = [encoder.encode(chunk, model.device) for chunk in chunks]
            states.append(torch.cat([hidden for hidden, _ in encoded], dim=1).to(encoders[-1].text_encoder.dtype))
            pooled = encoded[0][1] if encoded[0][1] is not None else pooled
        sides.append((torch.cat(states, dim=-1), pooled))
    embeds, pooled = sides[0]
    if guided:
        negative_embeds, negative_pooled = sides[1] if not zeroed else (
            torch.zeros_like(embeds), torch.zeros_like(pooled))
        embeds = torch.cat([negative_embeds, embeds])
        pooled = None if pooled is None else torch.cat([negative_pooled, pooled])
    return embeds, pooled


def emphasize(hidden: torch.Tensor, multipliers: list[float]) -> torch.Tensor:
    """Each token's states times its weight, then scaled so the chunk keeps its mean (A1111:
    without it, strong weights shift the whole conditioning and pictures break up)."""
    original = hidden.float()
    weights = torch.tensor(multipliers, dtype=torch.float32, device=hidden.device).reshape(1, -1, 1)
    weighted = original * weights
    return (weighted * (original.mean() / weighted.mean())).to(hidden.dtype)


def multi_vector_tokens(tokenizer: Any) -> dict[int, list[int]]:
    """Token id of each multi-vector embedding -> the ids of all its vectors: diffusers loads
    an embedding of n vectors as the tokens `name`, `name_1`, ... `name_{n-1}`."""
    added = tokenizer.added_tokens_encoder
    units: dict[int, list[int]] = {}
    for content, first in added.items():
        ids, i = [first], 1
        while f"{content}_{i}" in added:
            ids.append(added[f"{content}_{i}"])
            i += 1
        if len(ids) > 1:
            units[first] = ids
    return units
