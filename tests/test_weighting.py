"""Prompt weighting, BREAK and long prompts, as Automatic1111 reads them: the parser against
A1111's own examples, the chunking, and the encoding on tiny SD and SDXL models (a plain
prompt encodes to diffusers' own tensors; weights scale their tokens' rows)."""

from __future__ import annotations

import numpy as np
import pytest

from canvas.painters.diffusion.weighting import (
    CHUNK_LENGTH,
    PromptError,
    TokenIds,
    empty_chunk,
    make_chunks,
    parse_prompt_attention,
)

# --- the parser: pure Python ------------------------------------------------------------

# A1111's docstring of parse_prompt_attention (modules/prompt_parser.py), case by case.
A1111_EXAMPLES = [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1)]),
]


@pytest.mark.parametrize(("prompt", "expected"), A1111_EXAMPLES)
def test_the_parser_reads_a1111s_own_examples_exactly(prompt, expected):
    assert parse_prompt_attention(prompt) == expected


def test_the_parser_weights_brackets_escapes_and_breaks():
    parse = parse_prompt_attention
    assert parse("(word)") == [("word", 1.1)]
    assert parse("((word))") == [("word", 1.1 * 1.1)]
    assert parse("(word:1.3)") == [("word", 1.3)]
    assert parse("[word]") == [("word", 1 / 1.1)]
    assert parse("[[word]]") == [("word", 1 / 1.1 / 1.1)]
    assert parse("a (word:1.0) b") == [("a word b", 1.0)]  # weight 1: the plain prompt's text
    assert parse("\\(word\\) \\[x\\] \\\\") == [("(word) [x] \\", 1.0)]
    assert parse("(a:-0.5)") == [("a", -0.5)]
    assert parse("(word: 1.3)") == [("word: 1.3", 1.1)]  # A1111 reads no space before the number
    assert parse("") == [("", 1.0)]
    assert parse("a BREAK b") == [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]
    assert parse("a (red:1.5) BREAK b") == [("a ", 1.0), ("red", 1.5), ("", 1.0), ("BREAK", -1.0), ("b", 1.0)]
    assert parse("BREAKFAST break") == [("BREAKFAST break", 1.0)]  # only the capital word
    # Inside brackets a BREAK's mark is weighted and it reads as a word, exactly as in A1111.
    assert parse("(a BREAK b)") == [("a", 1.1), ("BREAK", -1.1), ("b", 1.1)]


def test_a_weight_that_is_not_a_number_is_one_line():
    with pytest.raises(PromptError, match="not a number") as error:
        parse_prompt_attention("a (b:1.2.3)")
    assert "\n" not in str(error.value)


def test_the_parser_needs_no_torch():
    import subprocess
    import sys

    code = ("import sys\nimport canvas.painters.diffusion.weighting\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- chunks: pure Python -------------------------------------------------------------------

IDS = TokenIds(start=1000, end=1001, pad=0, comma=5)


def chunks_of(*runs, vectors=None, backtrack=20):
    """Chunks of runs given as (token ids, weight), or "BREAK"."""
    parsed = [("BREAK", -1.0) if run == "BREAK" else ("text", run[1]) for run in runs]
    tokenized = [[] if run == "BREAK" else run[0] for run in runs]
    return make_chunks(parsed, tokenized, IDS, vectors, backtrack)


def test_chunks_hold_75_tokens_between_their_start_and_end():
    words = list(range(10, 85))  # 75
    [chunk] = chunks_of((words, 1.0))
    assert chunk.tokens == [1000, *words, 1001] and len(chunk.tokens) == CHUNK_LENGTH + 2
    first, second = chunks_of((words + [99], 1.0))
    assert first.tokens == [1000, *words, 1001]
    assert second.tokens == [1000, 99, 1001, *[0] * 74] and second.multipliers == [1.0] * 77
    [short] = chunks_of(([7, 8], 1.5))
    assert short.tokens == [1000, 7, 8, 1001, *[0] * 73]
    assert short.multipliers == [1.0, 1.5, 1.5, *[1.0] * 74] and short.weighted
    assert empty_chunk(IDS).tokens == [1000, 1001, *[0] * 75]


def test_break_starts_a_new_chunk_and_a_trailing_one_adds_none():
    first, second = chunks_of(([7], 1.0), "BREAK", ([8], 1.2))
    assert first.tokens[:3] == [1000, 7, 1001] and second.tokens[:3] == [1000, 8, 1001]
    assert second.multipliers[1] == 1.2
    assert len(chunks_of(([7], 1.0), "BREAK", ([], 1.0))) == 1
    assert len(chunks_of("BREAK", ([7], 1.0))) == 2  # an empty first chunk, as A1111 makes


def test_a_long_prompt_is_cut_after_its_last_comma_when_it_is_near():
    words = [*range(10, 80), 5, *range(100, 110)]  # a comma at 70, then 10 words
    first, second = chunks_of((words, 1.0))
    assert first.tokens[1:73] == [*range(10, 80), 5, 1001]  # cut after the comma
    assert second.tokens[1:12] == [*range(100, 110), 1001]
    first, second = chunks_of((words, 1.0), backtrack=0)  # A1111's setting 0: cut at 75
    assert first.tokens[1:77] == [*range(10, 80), 5, 100, 101, 102, 103, 1001]
    far = [*range(10, 30), 5, *range(100, 160)]  # a comma 54 tokens back: too far
    first, _ = chunks_of((far, 1.0))
    assert first.tokens[-2] == far[74]


def test_a_multi_vector_embedding_is_written_out_and_never_split():
    words = list(range(10, 84))  # 74: room for one more token, not three
    first, second = chunks_of((words + [500], 1.3), vectors={500: [500, 501, 502]})
    assert first.tokens == [1000, *words, 1001, 0]
    assert second.tokens[:5] == [1000, 500, 501, 502, 1001] and second.multipliers[1:4] == [1.3] * 3


# --- encoding on tiny models ------------------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from canvas.painters import CancelToken, PaintRequest  # noqa: E402
from canvas.painters.diffusion.prompts import encode  # noqa: E402
from tiny_models import TinyModels  # noqa: E402

LONG = "a " * 100  # 100 tokens with the tests' byte tokenizer: two chunks
LONGER = "a " * 160  # three


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


def pipeline_encoding(model, prompt, negative, guided):
    """diffusers' own encode_prompt, rows as ours: [negative, prompt]."""
    pipeline = model.pipeline
    if model.xl:
        embeds, negative_embeds, pooled, negative_pooled = pipeline.encode_prompt(
            prompt, device=model.device, num_images_per_prompt=1, do_classifier_free_guidance=guided,
            negative_prompt=negative or None)
    else:
        embeds, negative_embeds = pipeline.encode_prompt(prompt, model.device, 1, guided, negative_prompt=negative or None)
        pooled = negative_pooled = None
    if guided:
        embeds = torch.cat([negative_embeds, embeds])
        pooled = None if pooled is None else torch.cat([negative_pooled, pooled])
    return embeds, pooled


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_a_plain_prompt_encodes_exactly_as_the_pipeline_does(models, kind):
    model = models.painter(kind).model
    cases = [("a park", "fog", True), ("a park", "", True), ("a park", "", False), ("", "", True),
             ("x" * 75, "fog", True)]  # 75 tokens: the longest prompt of one chunk
    with torch.inference_mode():
        for prompt, negative, guided in cases:
            ours = encode(model, prompt, negative, guided)
            embeds, pooled = pipeline_encoding(model, prompt, negative, guided)
            assert torch.equal(ours.embeds, embeds), (prompt, negative, guided)
            assert (ours.pooled is None and pooled is None) or torch.equal(ours.pooled, pooled)
            # A weight of 1 is no weight at all.
            same = encode(model, f"({prompt}:1.0)", f"({negative}:1.0)" if negative else "", guided)
            assert torch.equal(same.embeds, ours.embeds)


def expected_weighted(plain: torch.Tensor, multipliers: list[float]) -> torch.Tensor:
    """A1111's emphasis by hand: each token's row times its weight, then the chunk's mean restored."""
    weights = torch.tensor(multipliers).reshape(1, -1, 1)
    weighted = plain * weights
    return weighted * (plain.mean() / weighted.mean())


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
@pytest.mark.parametrize(("written", "weight"), [("(b)", 1.1), ("((b))", 1.21), ("(b:1.5)", 1.5), ("[b]", 1 / 1.1),
                                                 ("(b:0.5)", 0.5)])
def test_a_weight_scales_its_tokens_rows_and_keeps_the_mean(models, kind, written, weight):
    model = models.painter(kind).model
    with torch.inference_mode():
        plain = encode(model, "a b c", "", False)
        weighted = encode(model, f"a {written} c", "", False)
    multipliers = [1.0] * 77
    multipliers[2] = weight  # [start, a, b, c, end, ...]: "b" is one token
    # SDXL weights each encoder's states on their own: the first 32 columns, then the second's 48.
    widths = [32, 48] if model.xl else [32]
    start = 0
    for width in widths:
        part = slice(start, start + width)
        expected = expected_weighted(plain.embeds[..., part], multipliers)
        assert torch.allclose(weighted.embeds[..., part], expected, rtol=1e-5, atol=1e-6)
        start += width
    ratio = weighted.embeds[0, 2] / plain.embeds[0, 2]
    others = weighted.embeds[0, 1] / plain.embeds[0, 1]
    assert torch.allclose(ratio[:32] / others[:32], torch.full((32,), weight), rtol=1e-4)
    if model.xl:  # the pooled embedding is the unweighted first chunk's
        assert torch.equal(weighted.pooled, plain.pooled)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_break_and_long_prompts_take_chunks_of_77_and_pad_the_other_side(models, kind):
    model = models.painter(kind).model
    with torch.inference_mode():
        broken = encode(model, "a park BREAK at night", "fog", True)
        assert broken.embeds.shape[:2] == (2, 154)
        # Each chunk is encoded on its own: the second is "at night" alone.
        assert torch.equal(broken.embeds[1:, 77:], encode(model, "at night", "", False).embeds)
        assert torch.equal(broken.embeds[1:, :77], encode(model, "a park", "", False).embeds)
        # The negative prompt is padded with an empty prompt's chunk.
        assert torch.equal(broken.embeds[:1, :77], encode(model, "fog", "", False).embeds)
        assert torch.equal(broken.embeds[:1, 77:], encode(model, "", "", False).embeds)
        assert encode(model, LONG, "", True).embeds.shape[:2] == (2, 154)
        assert encode(model, LONGER, "", False).embeds.shape[:2] == (1, 231)
        assert encode(model, "fog", LONGER, True).embeds.shape[:2] == (2, 231)  # a long negative pads the prompt
        if model.xl:
            zeroed = encode(model, LONG, "", True)  # SDXL's empty negative prompt: zeros, as long as the prompt
            assert not zeroed.embeds[0].any() and not zeroed.pooled[0].any()
            assert torch.equal(broken.pooled[1:], encode(model, "a park", "", False).pooled)  # the first chunk's


@pytest.mark.parametrize("kind", ["sd-inpaint", "sdxl"])
def test_a_window_paints_with_a_long_and_weighted_prompt(models, kind):
    from pictures import photo

    painter = models.painter(kind)
    image = photo("astronaut", 512)
    mask = np.zeros((512, 512), bool)
    mask[:, 256:] = True

    def paint(prompt):
        request = PaintRequest(prompt=prompt, negative_prompt="fog BREAK (blur:1.2)", steps=2, guidance=5.0, seed=3)
        [out] = painter.paint(image, mask, request, lambda p: None, CancelToken())
        return out

    long = paint("a (red:1.4) house, " * 30)  # ~150 tokens
    short = paint("a red house")
    assert long.shape == image.shape and long[mask].std() > 0
    assert not np.array_equal(long[mask], short[mask])


def test_openclip_tokenizers_pad_with_their_own_token(models):
    """SD 2.x's tokenizer and SDXL's second pad with "!", not the end token: chunks pad as they do."""
    from canvas.painters.diffusion.loading import prepare
    from canvas.painters.diffusion.settings import DiffusionSettings
    from canvas.painters.diffusion.text_encoding import _Encoder
    from tiny_models import build_pipeline

    pipeline = build_pipeline("sdxl")
    pipeline.tokenizer_2.pad_token = "!"
    pad = pipeline.tokenizer_2.pad_token_id
    assert pad != pipeline.tokenizer_2.eos_token_id
    model = prepare(pipeline, DiffusionSettings(model="tiny", dtype="fp32"))
    with torch.inference_mode():
        ours = encode(model, "a park", "fog", True)
        embeds, pooled = pipeline_encoding(model, "a park", "fog", True)
    assert torch.equal(ours.embeds, embeds) and torch.equal(ours.pooled, pooled)
    _, second = _Encoder(pipeline.tokenizer_2, pipeline.text_encoder_2, True).chunks("a BREAK b")
    assert second.tokens[2:] == [pipeline.tokenizer_2.eos_token_id, *[pad] * 74]


def test_a_weight_that_is_not_a_number_fails_the_window_before_it_paints(models):
    image = np.zeros((512, 512, 3), np.uint8)
    mask = np.ones((512, 512), bool)
    seen = []
    with pytest.raises(PromptError, match="prompt weight '1.2.3' is not a number"):
        models.painter("sd").paint(image, mask, PaintRequest(prompt="a (b:1.2.3)", steps=2), seen.append, CancelToken())
    assert not seen
