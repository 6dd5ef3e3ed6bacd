"""bench/families.py: every family's full-size denoiser config builds on the meta device
(no memory) with the published parameter count, and takes the inputs a 512 px window
step gives it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import families as bench  # noqa: E402

from canvas.painters.diffusion.families import FAMILIES  # noqa: E402

TOLERANCE_PCT = 4  # published counts are rounded: "4 billion", "20B", "2.5 billion"


def test_every_family_of_the_painter_has_a_full_size_config():
    assert set(bench.CONFIGS) == set(FAMILIES)
    for key, config in bench.CONFIGS.items():
        assert config.denoiser == FAMILIES[key].denoiser
        assert config.published and config.gpu and config.text_tokens > 0


@pytest.mark.parametrize("key", list(bench.CONFIGS))
def test_the_meta_build_has_the_published_parameter_count(key):
    import torch

    config = bench.CONFIGS[key]
    model = bench.build(config, "meta", torch.bfloat16)
    assert all(p.device.type == "meta" and p.dtype == torch.bfloat16 for p in model.parameters())
    params_b = bench.parameters(model) / 1e9
    assert abs(params_b / config.published_b - 1) * 100 < TOLERANCE_PCT, (key, params_b, config.published_b)


@pytest.mark.parametrize("key", ["sd3", "flux2-klein", "z-image"])
def test_a_step_is_counted_at_the_real_sequence_lengths(key):
    row = bench.meta_figures(bench.CONFIGS[key])
    assert row["params_vs_published_pct"] == pytest.approx(100 * (row["params_b"] / row["published_b"] - 1), abs=0.1)
    assert row["weights_gb_bf16"] == pytest.approx(row["params_b"] * 1e9 * 2 / 2**30, rel=1e-2)
    # At least 2 FLOPs a weight for a third of the weights on every image token: the
    # forward ran on them all (dual-stream blocks apply half their weights to text only,
    # and modulation weights to one vector).
    assert row["tflop_forward"] * 1e12 > 2 * row["params_b"] * 1e9 * row["image_tokens"] / 3, row
    expected = {"sd3": (1024, 333), "flux2-klein": (2048, 512), "z-image": (1024, bench.PROMPT_TOKENS)}[key]
    assert (row["image_tokens"], row["text_tokens"]) == expected


def test_only_families_with_guidance_by_default_take_two_forwards_a_step():
    assert {key: bench.forwards_per_step(key) for key in FAMILIES} == {
        "sd1": 2, "sd2": 2, "sdxl": 2, "sd3": 2, "flux": 1, "flux-fill": 1, "chroma": 2, "flux2-klein": 1,
        "z-image": 1, "qwen-image": 2,
    }


def test_unmeasured_rows_are_estimated_from_the_measured_flop_rate():
    rows = [
        {"family": "sd1", "denoiser": "UNet2DConditionModel", "tflop_forward": 1.0, "cpu_s_forward": 1.0},
        {"family": "sd3", "denoiser": "SD3Transformer2DModel", "tflop_forward": 2.0, "cpu_s_forward": 10.0},
        {"family": "flux2-klein", "denoiser": "Flux2Transformer2DModel", "tflop_forward": 6.0, "cpu_s_forward": 20.0},
        {"family": "flux", "denoiser": "FluxTransformer2DModel", "tflop_forward": 5.0},
    ]
    bench.estimate(rows)
    # The transformers' rates, 0.2 and 0.3 TFLOP/s: their median 0.25 (the UNet's left out).
    assert rows[3]["est_tflops_basis"] == pytest.approx(0.25) and rows[3]["cpu_s_forward_est"] == pytest.approx(20.0)
    assert all("cpu_s_forward_est" not in row for row in rows[:3])
    nothing = [{"family": "flux", "denoiser": "FluxTransformer2DModel", "tflop_forward": 5.0}]
    bench.estimate(nothing)
    assert "cpu_s_forward_est" not in nothing[0]  # no measured rate, no estimate


def test_a_family_is_built_for_real_and_its_forward_timed(monkeypatch):
    from dataclasses import replace

    # SD 1.5's inputs and code path, on a UNet a few channels wide.
    tiny = dict(bench.SD1, block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                norm_num_groups=8)
    monkeypatch.setitem(bench.CONFIGS, "sd1", replace(bench.CONFIGS["sd1"], config=tiny))
    figures = bench.measure("sd1", forwards=2)
    assert figures["dtype"] == ("bfloat16" if bench.native_bf16() else "float32")
    assert figures["threads"] == 1 and figures["forwards"] == 2
    assert 0 < figures["cpu_s_forward"] and 0 < figures["s_forward"] and figures["peak_gb"] > 0
    once = bench.measure("sd1", forwards=1)
    assert once["cpu_s_forward"] == once["cpu_s_first"]  # one forward: the one that counts
