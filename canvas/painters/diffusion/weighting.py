"""Prompt weighting as Automatic1111 writes it, parsed and cut into CLIP's 77-token chunks.

Pure Python (no torch): A1111's `parse_prompt_attention` and its chunking
(modules/prompt_parser.py and modules/sd_hijack_clip.py), with the same results.

    parse_prompt_attention("a (red:1.3) [car] BREAK night")
    # [("a ", 1.0), ("red", 1.3), (" ", 1.0), ("car", 0.909...), ("", 1.0), ("BREAK", -1.0), ("night", 1.0)]

- `(text)` multiplies its weight by 1.1, `((text))` by 1.21, `(text:1.3)` by 1.3, `[text]`
  divides it by 1.1; brackets left open apply to the end of the prompt; `\\(`, `\\)`, `\\[`,
  `\\]` and `\\\\` are the characters themselves.
- `BREAK` (a word, in capitals) ends the chunk: what follows starts a new one.
- A prompt of more than 75 tokens takes several chunks of 75 (each with its start and end
  token: 77), encoded one by one and concatenated; a chunk that would end mid-phrase is
  cut after its last comma when that comma is at most `COMMA_BACKTRACK` tokens back.

What A1111 does besides, and this module does not: prompt editing (`[a:b:0.5]`),
alternation (`[a|b]`) and `AND` (composable diffusion); their characters are plain text
here as they would be in A1111's attention parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

ROUND = 1.1  # ( ) multiplies by this
SQUARE = 1 / 1.1  # [ ] multiplies by this
BREAK = ("BREAK", -1.0)  # the marker a BREAK leaves in the parsed list, as A1111's
CHUNK_LENGTH = 75  # tokens a chunk holds besides its start and end tokens
COMMA_BACKTRACK = 20  # A1111's default "comma padding backtrack"

# A1111's tokens: escapes, brackets, ":weight)" closing a round bracket, plain text, a lone ":".
_ATTENTION = re.compile(
    r"""
\\\(|
\\\)|
\\\[|
\\]|
\\\\|
\\|
\(|
\[|
:([+-]?[.\d]+)\)|
\)|
]|
[^\\()\[\]:]+|
:
""",
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """The prompt as (text, weight) runs, neighbours of equal weight merged; a BREAK is
    `BREAK` ("BREAK", -1.0). An empty prompt is [("", 1.0)]."""
    runs: list[list] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_from(start: int, multiplier: float) -> None:
        for run in runs[start:]:
            run[1] *= multiplier

    for match in _ATTENTION.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            runs.append([token[1:], 1.0])
        elif token == "(":
            round_brackets.append(len(runs))
        elif token == "[":
            square_brackets.append(len(runs))
        elif weight is not None and round_brackets:
            multiply_from(round_brackets.pop(), _number(weight))
        elif token == ")" and round_brackets:
            multiply_from(round_brackets.pop(), ROUND)
        elif token == "]" and square_brackets:
            multiply_from(square_brackets.pop(), SQUARE)
        else:
            for i, part in enumerate(_BREAK.split(token)):
                if i > 0:
                    runs.append(list(BREAK))
                runs.append([part, 1.0])
    for start in round_brackets:
        multiply_from(start, ROUND)
    for start in square_brackets:
        multiply_from(start, SQUARE)
    if not runs:
        runs = [["", 1.0]]
    merged: list[list] = [runs[0]]
    for run in runs[1:]:
        if run[1] == merged[-1][1]:
            merged[-1][0] += run[0]
        else:
            merged.append(run)
    return [(str(text), float(weight)) for text, weight in merged]


class PromptError(ValueError):
    """A prompt that cannot be weighted: one line for the user."""


def _number(text: str) -> float:
    # A1111's pattern lets through what float() refuses ("1.2.3", "."), and fails then too.
    try:
        return float(text)
    except ValueError:
        raise PromptError(f"prompt weight {text!r} is not a number (write it as (word:1.3))") from None


def is_break(run: tuple[str, float]) -> bool:
    # A BREAK inside brackets has its weight multiplied and reads as the word "BREAK", as in A1111.
    return run[0] == BREAK[0] and run[1] == BREAK[1]


@dataclass(frozen=True)
class TokenIds:
    """A tokenizer's special tokens, as the chunks need them."""

    start: int
    end: int
    pad: int  # SD 1.x pads with the end token, OpenCLIP (SD 2.x, SDXL's second) with 0
    comma: int | None  # ",</w>", where a long prompt prefers to be cut


@dataclass
class Chunk:
    """One pass of the text encoder: `CHUNK_LENGTH + 2` token ids and a weight for each."""

    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)

    @property
    def weighted(self) -> bool:
        return any(m != 1.0 for m in self.multipliers)


def make_chunks(
    runs: Sequence[tuple[str, float]],
    tokenized: Sequence[Sequence[int]],
    ids: TokenIds,
    vectors: Mapping[int, Sequence[int]] | None = None,
    backtrack: int = COMMA_BACKTRACK,
) -> list[Chunk]:
    """The chunks of a parsed prompt (`runs`, each tokenized without special tokens in
    `tokenized`), as A1111's `tokenize_line` makes them: at least one.

    `vectors` maps a multi-vector embedding's token to all of its tokens (diffusers loads
    "name" as `name`, `name_1`, ...): it is written out in full and never split between chunks.
    """
    vectors = vectors or {}
    chunks: list[Chunk] = []
    chunk = Chunk()
    last_comma = -1

    def next_chunk() -> None:
        nonlocal chunk, last_comma
        padding = CHUNK_LENGTH - len(chunk.tokens)
        # [start] tokens [end] then padding: the same ids as the tokenizer's max_length padding.
        chunk.tokens = [ids.start, *chunk.tokens, ids.end, *[ids.pad] * padding]
        chunk.multipliers = [1.0, *chunk.multipliers, 1.0, *[1.0] * padding]
        chunks.append(chunk)
        chunk = Chunk()
        last_comma = -1

    for tokens, run in zip(tokenized, runs):
        if is_break(run):
            next_chunk()
            continue
        weight = run[1]
        for token in tokens:
            if token == ids.comma:
                last_comma = len(chunk.tokens)
            elif (backtrack and len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                  and len(chunk.tokens) - last_comma <= backtrack):
                # Full, and a comma is near: what follows it moves to the next chunk.
                cut = last_comma + 1
                moved_tokens, moved_multipliers = chunk.tokens[cut:], chunk.multipliers[cut:]
                del chunk.tokens[cut:], chunk.multipliers[cut:]
                next_chunk()
                chunk.tokens, chunk.multipliers = moved_tokens, moved_multipliers
            if len(chunk.tokens) == CHUNK_LENGTH:
                next_chunk()
            unit = list(vectors.get(token, (token,)))
            if len(chunk.tokens) + len(unit) > CHUNK_LENGTH:
                next_chunk()
            chunk.tokens += unit
            chunk.multipliers += [weight] * len(unit)
    if chunk.tokens or not chunks:
        next_chunk()
    return chunks


def empty_chunk(ids: TokenIds) -> Chunk:
    """What an empty prompt is: the padding of the side with fewer chunks."""
    return make_chunks([("", 1.0)], [[]], ids)[0]
