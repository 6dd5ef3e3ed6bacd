"""Masks by pointing: a tiny random-weight SAM (and SAM-HQ) saved as transformers saves
them, loaded through the loader users use; the segmenter alone, then over the websocket."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from canvas.segment import SegmentError, SegmentPrompt, load_segmenter  # noqa: E402
from pictures import photo  # noqa: E402
from serving import Server, png  # noqa: E402
from tiny_models import save_sam  # noqa: E402


@pytest.fixture(scope="module")
def sam_folder(tmp_path_factory):
    return save_sam(tmp_path_factory.mktemp("sam") / "tiny-sam")


@pytest.fixture(scope="module")
def segmenter(sam_folder):
    return load_segmenter(str(sam_folder), offline=True)


def encoder_calls(segmenter) -> list:
    calls: list = []
    segmenter.model.vision_encoder.register_forward_hook(lambda *args: calls.append(1))
    return calls


def reference(segmenter, image: np.ndarray, points, labels) -> np.ndarray:
    """What transformers' own processor and model give for these clicks on this image."""
    import torch

    inputs = segmenter.processor(images=image, input_points=[[points]], input_labels=[[labels]], return_tensors="pt")
    with torch.inference_mode():
        out = segmenter.model(**inputs, multimask_output=len(points) == 1)
    best = int(out.iou_scores[0, 0].argmax())
    masks = segmenter.processor.image_processor.post_process_masks(
        out.pred_masks[:, :, best : best + 1], inputs["original_sizes"], inputs["reshaped_input_sizes"])
    return masks[0][0, 0].numpy()


@pytest.mark.parametrize("hq", [False, True])
def test_a_click_is_the_models_mask_of_the_region_and_the_second_reuses_its_embedding(sam_folder, tmp_path, hq):
    segmenter = load_segmenter(str(sam_folder if not hq else save_sam(tmp_path / "tiny-sam-hq", hq=True)), offline=True)
    assert segmenter.kind == ("sam_hq" if hq else "sam")
    calls = encoder_calls(segmenter)
    image = photo("astronaut", 512)[:300, :400]
    reads = []

    def read():
        reads.append(1)
        return image

    first, score = segmenter.segment("region", read, SegmentPrompt.of([(120, 80)], [1], None, (400, 300)))
    assert first.shape == (300, 400) and first.dtype == bool and np.isfinite(score)
    second, _ = segmenter.segment("region", read, SegmentPrompt.of([(120, 80), (300, 200)], [1, 0], None, (400, 300)))
    assert len(calls) == 1 and len(reads) == 1  # one embedding for both clicks
    segmenter.segment("elsewhere", read, SegmentPrompt.of([], None, (10, 10, 200, 150), (400, 300)))
    assert len(calls) == 2
    assert np.array_equal(first, reference(segmenter, image, [[120, 80]], [1]))  # the click, where it was
    assert np.array_equal(second, reference(segmenter, image, [[120, 80], [300, 200]], [1, 0]))


def test_bad_prompts_are_typed_errors():
    size = (100, 80)
    cases = [
        (([(100, 10)], None, None), "outside the 100x80 region"),
        (([(5, 5)], [1, 1], None), "one 1 (in) or 0 (out) per point"),
        (([(5, 5)], [0], None), "at least one positive point"),
        (([], None, None), "at least one positive point"),
        (([(5, float("nan"))], None, None), "two numbers"),
        (([], None, (50, 10, 20, 30)), "x0 < x1"),
        (([(1, 1)] * 17, None, None), "at most 16 points"),
    ]
    for (points, labels, box), message in cases:
        with pytest.raises(SegmentError, match=message.replace("(", r"\(").replace(")", r"\)")):
            SegmentPrompt.of(points, labels, box, size)


def test_missing_or_wrong_models_are_one_clear_error(tmp_path, sam_folder):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "sam.pth").write_bytes(b"not really")
    cases = [
        (str(tmp_path / "missing"), "no such folder"),
        (str(tmp_path), "no config.json"),
        (str(tmp_path / "other"), "a bert model, not Segment Anything"),
        (str(tmp_path / "sam.pth"), "need converting"),
        ("nobody/no-such-sam", "not in the local Hugging Face cache"),
    ]
    for name, message in cases:
        with pytest.raises(SegmentError) as error:
            load_segmenter(name, offline=True)
        assert message in str(error.value) and "\n" not in str(error.value), (name, error.value)


def test_segment_over_the_websocket(tmp_path, segmenter):
    image = photo("astronaut", 512)
    server = Server(tmp_path / "data", segmenter=segmenter)
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=100&y=50", png(image))[0] == 201
        client = server.socket()
        assert client.welcome["segmenter"] is True and client.welcome["version"] == 3
        calls = encoder_calls(segmenter)
        region = {"type": "segment", "x": 100, "y": 50, "w": 512, "h": 256, "level": 0}
        answer = client.ask({**region, "points": [[300, 150]], "labels": [1]})
        assert answer["type"] == "ok" and answer["format"] == "mask" and (answer["w"], answer["h"]) == (512, 256)
        mask = np.frombuffer(answer["payload"], np.uint8).reshape(256, 512)
        assert set(np.unique(mask)) <= {0, 255}
        again = client.ask({**region, "points": [[300, 150], [400, 200]], "labels": [1, 0]})
        assert again["type"] == "ok" and len(calls) == 1  # the cached embedding
        # In the region's pixels: the click at (300, 150) of the canvas is (200, 100) of the region.
        assert np.array_equal(mask > 0, reference(segmenter, image[:256], [[200, 100]], [1]))
        calls.clear()
        for bad, code in [({"points": [[50, 150]]}, "bad_points"), ({"points": "here"}, "bad_points"),
                          ({"points": [[300, 150]], "labels": [2]}, "bad_points"), ({"w": 5000}, "out_of_range"),
                          ({"box": [400, 100, 300, 200]}, "bad_points")]:
            refused = client.ask({**region, **bad})
            assert refused["type"] == "error" and refused["code"] == code, (bad, refused)
        # A commit under the region: the next click encodes it afresh.
        assert server.http("POST", "/api/canvases/default/upload?x=100&y=50", png(image[::-1].copy()))[0] == 201
        client.next("tiles.invalidated")
        assert client.ask({**region, "points": [[300, 150]]})["type"] == "ok" and len(calls) == 1
        client.close()
    finally:
        server.stop()


def test_without_a_segmenter_segment_is_refused(server):
    client = server.socket()
    assert client.welcome["segmenter"] is False
    answer = client.ask({"type": "segment", "x": 0, "y": 0, "w": 64, "h": 64, "points": [[3, 3]]})
    assert answer["type"] == "error" and answer["code"] == "no_segmenter"
    client.close()
