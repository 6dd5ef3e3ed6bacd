"""LoRA tags in prompts, read as A1111 reads them (canvas/painters/diffusion/lora_tags.py)."""

from __future__ import annotations

import pytest

from canvas.painters.diffusion.lora_tags import LoraTag, LoraTagError, lora_fits, parse_lora_tags


@pytest.mark.parametrize("prompt, stripped, tags", [
    ("a castle", "a castle", ()),
    ("a castle <lora:ink:0.8>, night", "a castle , night", (LoraTag("ink", 0.8, 0.8),)),
    ("<lora:ink>a castle", "a castle", (LoraTag("ink", 1.0, 1.0),)),
    ("<lora:styles/ink:0.5:1.2>", "", (LoraTag("styles/ink", 0.5, 1.2),)),  # A1111: te, then unet
    ("<lora:ink:unet=0.3>", "", (LoraTag("ink", 1.0, 0.3),)),
    ("<lora:ink:0.7:dyn=8:te=0.2>", "", (LoraTag("ink", 0.2, 0.7),)),  # dyn: DyLoRA's, ignored
    ("<lyco:loha:-0.5> x", " x", (LoraTag("loha", -0.5, -0.5),)),  # negative weights are A1111's too
    ("(red:1.2) <lora:a:1> <lora:b:0>", "(red:1.2)  ", (LoraTag("a", 1.0, 1.0), LoraTag("b", 0.0, 0.0))),
    ("<hypernet:x:1> <LORA:y:1>", "<hypernet:x:1> <LORA:y:1>", ()),  # not LoRA tags: plain text, as in A1111
])
def test_tags_are_taken_out_of_the_prompt_with_a1111s_weights(prompt, stripped, tags):
    tagged = parse_lora_tags(prompt)
    assert tagged.prompt == stripped and tagged.loras == tags


def test_weight_zero_everywhere_is_inactive():
    assert LoraTag("x", 0, 0).inactive and not LoraTag("x", 0, 0.5).inactive


@pytest.mark.parametrize("prompt, message", [
    ("<lora:ink:strong>", "'strong' is not a number"),
    ("<lora:ink:nan>", "between -10 and 10"),
    ("<lora:ink:50>", "between -10 and 10"),
    ("<lora: :1>", "names no LoRA"),
    ("<lora:ink:1> and <lora:ink:0.5>", "named twice"),
])
def test_a_bad_tag_is_one_line(prompt, message):
    with pytest.raises(LoraTagError, match=message) as caught:
        parse_lora_tags(prompt)
    assert "\n" not in str(caught.value)


def test_a_lora_fits_its_own_family_and_flux_fill_takes_flux_loras():
    assert lora_fits("sd1", "sd1") and lora_fits(None, "sdxl") and lora_fits("flux", "flux-fill")
    assert not lora_fits("sdxl", "sd1") and not lora_fits("sd1", "sd2") and not lora_fits("flux-fill", "flux")
