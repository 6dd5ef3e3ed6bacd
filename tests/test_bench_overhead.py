"""bench/path_overhead.py: the job path's overhead figures (median and spread of paired,
interleaved rounds) and the hook a family's painter is measured through, on the tiny SD
model of tests/tiny_models.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from path_overhead import Subject, measure, overhead_stats, rounds  # noqa: E402

from canvas.painters import PaintRequest  # noqa: E402


def test_the_median_and_spread_of_the_per_round_overheads():
    baseline = [10.0, 10.0, 10.0, 10.0, 10.0]
    job = [10.1, 10.2, 10.3, 10.5, 11.0]  # 1, 2, 3, 5 and 10 %
    assert overhead_stats(baseline, job) == pytest.approx({
        "overhead_pct_median": 3.0, "overhead_pct_min": 1.0, "overhead_pct_max": 10.0,
        "overhead_pct_q1": 2.0, "overhead_pct_q3": 5.0,
    })
    # An even count: the median between the middle two; quartiles inclusive, within min..max.
    stats = overhead_stats([1.0] * 6, [1.01, 1.02, 1.03, 1.05, 1.07, 1.20], prefix="x")
    assert stats["x_median"] == pytest.approx(4.0)
    assert stats["x_q1"] == pytest.approx(2.25) and stats["x_q3"] == pytest.approx(6.5)
    assert (stats["x_min"], stats["x_max"]) == pytest.approx((1.0, 20.0))


def test_each_round_is_paired_with_its_own_baseline_so_load_that_drifts_cancels():
    # The machine slows down fourfold across the rounds; the job costs 3% more each round.
    baseline = [10.0, 14.0, 20.0, 28.0, 40.0]
    stats = overhead_stats(baseline, [1.03 * b for b in baseline])
    assert stats == pytest.approx(dict.fromkeys(stats, 3.0))
    # A job faster than its painter is a negative overhead, not clipped.
    assert overhead_stats([2.0], [1.9])["overhead_pct_median"] == pytest.approx(-5.0)


def test_bad_times_are_refused():
    with pytest.raises(ValueError, match="as many"):
        overhead_stats([1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="as many"):
        overhead_stats([], [])
    with pytest.raises(ValueError, match="positive"):
        overhead_stats([0.0], [1.0])


@pytest.fixture(scope="module")
def tiny_painter(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tiny_models import TinyModels

    return TinyModels.shared(tmp_path_factory).painter("sd-inpaint")


class Logged:
    """A painter that notes each call in a shared log, as a family's painter factory makes it."""

    def __init__(self, painter, log: list[str]) -> None:
        self.painter, self.log = painter, log

    def __getattr__(self, name):
        return getattr(self.painter, name)

    def paint(self, image, mask, request, progress, cancel):
        self.log.append(f"paint {image.shape[0]}x{image.shape[1]} {int(mask.sum())}")
        return self.painter.paint(image, mask, request, progress, cancel)


def test_a_family_is_measured_through_its_painter_factory_in_interleaved_rounds(tiny_painter):
    log: list[str] = []
    request = PaintRequest(prompt="a wall", seed=3, steps=2, guidance=1.0)

    def make() -> Subject:
        return Subject("tiny-sd", Logged(tiny_painter, log), request, window=512,
                       pipeline_call=lambda image, mask: log.append(f"pipeline {image.shape[0]}x{image.shape[1]} {int(mask.sum())}"),
                       fresh=lambda: log.append("fresh"), note="tiny SD, 2 steps")

    figures = measure(make, count=5)
    assert figures["name"] == "tiny-sd" and figures["note"] == "tiny SD, 2 steps" and figures["rounds"] == 5
    for prefix in ("overhead_pct", "pipeline_overhead_pct", "cpu_overhead_pct", "cpu_pipeline_overhead_pct"):
        low, q1, median, q3, high = (figures[f"{prefix}_{k}"] for k in ("min", "q1", "median", "q3", "max"))
        assert low <= q1 <= median <= q3 <= high
    assert figures["painter_s_median"] > 0 and figures["job_s_median"] > 0
    # The job's one window, painted the same way by the painter alone and by the pipeline:
    # the window the job handed over (512 px, its lower part masked), not one of our own.
    window = log[1]
    assert window.startswith("paint 512x512 ") and 0 < int(window.split()[-1]) < 512 * 512
    # Warm-up job, then the pipeline's warm-up; then per round: painter, pipeline, job,
    # each after a fresh prompt cache.
    pipeline = window.replace("paint", "pipeline")
    assert log[:3] == ["fresh", window, pipeline]
    assert log[3:] == ["fresh", window, "fresh", pipeline, "fresh", window] * 5


def test_without_a_pipeline_the_painter_alone_is_the_only_baseline(tiny_painter):
    subject = Subject("tiny-sd", tiny_painter, PaintRequest(prompt="", seed=1, steps=1, guidance=1.0), window=512)
    times = rounds(subject, 5)
    assert set(times) == {"painter", "job"}
    assert all(len(t.wall) == len(t.cpu) == 5 for t in times.values())
    with pytest.raises(ValueError, match="at least one"):
        rounds(subject, 0)


# --- each transformer family's configuration (bench/family_subjects.py) --------------------

FAMILY_KEYS = ("flux-fill", "flux", "sd3", "flux2-klein", "z-image", "qwen-image", "chroma")


def test_every_family_has_a_configuration_in_the_diffusion_bench():
    pytest.importorskip("diffusers")
    import diffusion
    from family_subjects import REDUCED, TEXT_WIDTH, family_subject

    assert set(diffusion.CONFIGURATIONS) == {"sd1", *FAMILY_KEYS}
    for key in FAMILY_KEYS:
        assert diffusion.CONFIGURATIONS[key].func is family_subject and diffusion.CONFIGURATIONS[key].args == (key,)
    assert set(REDUCED) == set(TEXT_WIDTH) == set(FAMILY_KEYS)
    with pytest.raises(ValueError, match="unknown family"):
        family_subject("sd9", tiny=True)


@pytest.mark.parametrize("key", FAMILY_KEYS)
def test_a_family_configuration_builds_with_tiny_stand_ins_and_measures_one_round(key, tmp_path_factory):
    pytest.importorskip("diffusers")
    from family_subjects import family_subject
    from tiny_families import TinyFamilies

    TinyFamilies.shared(tmp_path_factory)  # one thread, as the tiny models run fastest
    figures = measure(lambda: family_subject(key, tiny=True), count=1)
    assert figures["name"] == key and figures["rounds"] == 1 and "tiny" in figures["note"]
    for prefix in ("overhead_pct", "pipeline_overhead_pct"):
        assert figures[f"{prefix}_min"] <= figures[f"{prefix}_median"] <= figures[f"{prefix}_max"]
    assert figures["painter_s_median"] > 0 and figures["pipeline_s_median"] > 0 and figures["job_s_median"] > 0


@pytest.mark.parametrize("key", FAMILY_KEYS)
def test_the_text_encoders_are_widened_to_what_the_full_size_denoiser_reads(key):
    pytest.importorskip("diffusers")
    import torch
    from family_subjects import TEXT_WIDTH, widened
    from tiny_families import build_pipeline

    pipeline = build_pipeline(key)
    for name, width in TEXT_WIDTH[key].items():
        tiny = getattr(pipeline, name)
        wide = widened(tiny, width)
        assert type(wide) is type(tiny)
        with torch.inference_mode():
            out = wide(input_ids=torch.tensor([[5, 6, 7]]), output_hidden_states=True)
        assert out.hidden_states[-1].shape[-1] == width
        if hasattr(out, "text_embeds"):  # CLIP with projection: SD3's pooled halves
            assert out.text_embeds.shape[-1] == width
