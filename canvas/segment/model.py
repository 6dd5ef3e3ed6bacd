"""Segment Anything through transformers: SAM (`SamModel`) or SAM-HQ (`SamHQModel`), from a
folder saved by transformers or a hub id, on CUDA or the CPU.

    segmenter = Segmenter.load("./sam-vit-base", offline=True)
    mask, score = segmenter.segment(("canvas-id", 0, rect, tiles), read=lambda: rgba, prompt=prompt)

The image encoder is the slow half (a ViT over a 1024 px square); the prompt decoder is
cheap. So each region's embedding is kept, under the caller's key (which names the
region and what it holds), for the last `cache` regions: further clicks on the same
pixels only decode.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator

import numpy as np
import torch

from canvas.segment.prompt import SegmentError, SegmentPrompt

log = logging.getLogger(__name__)
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
KINDS = {"sam": ("SamModel", "SamProcessor"), "sam_hq": ("SamHQModel", "SamHQProcessor")}
CACHED_REGIONS = 4  # embeddings kept: a few frames' worth (256 x 64 x 64 floats, 4 MB each)
UNKNOWN_GREY = 128  # what empty canvas pixels look like to the model


@dataclass
class Embedding:
    """One region's encoded image, and the sizes to map clicks and masks to and from it."""

    inputs: dict[str, Any]  # image_embeddings (and SAM-HQ's intermediate_embeddings)
    original: tuple[int, int]  # h, w of the region
    resized: tuple[int, int]  # h, w it was resized to before padding


class Segmenter:
    def __init__(self, model: Any, processor: Any, name: str, device: torch.device, cache: int = CACHED_REGIONS) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.name = name
        self.device = device
        self.kind = model.config.model_type
        self.cache_size = cache
        self._cache: OrderedDict[Hashable, Embedding] = OrderedDict()
        self._lock = threading.Lock()  # one region at a time: the model is not shared safely

    @classmethod
    def load(cls, name: str, offline: bool = False, device: str = "auto", cache: int = CACHED_REGIONS) -> "Segmenter":
        where = _locate(name)
        kind = _model_type(name, where, offline)
        import transformers

        model_class, processor_class = (getattr(transformers, n) for n in KINDS[kind])
        with _quiet():
            try:
                model = model_class.from_pretrained(where, local_files_only=offline)
                processor = processor_class.from_pretrained(where, local_files_only=offline)
            except Exception as exc:  # transformers and huggingface_hub raise many kinds
                raise SegmentError(f"cannot load the segmenter {name}: {_first_line(exc)}") from exc
        return cls(model, processor, name, _device(device), cache)

    def describe(self) -> dict[str, Any]:
        return {"segmenter": self.name, "kind": self.kind}

    def segment(self, key: Hashable, read: Callable[[], np.ndarray], prompt: SegmentPrompt) -> tuple[np.ndarray, float]:
        """The mask (bool, the region's h x w) of what `prompt` points at in the region
        `read` returns (RGB or RGBA uint8; alpha 0 is empty canvas), and the model's
        score for it. `read` is called only when `key` is not cached."""
        with self._lock, torch.inference_mode(), _quiet():
            embedding = self._embedding(key, read)
            return self._decode(embedding, prompt)

    def _embedding(self, key: Hashable, read: Callable[[], np.ndarray]) -> Embedding:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        image = _rgb(read())
        inputs = self.processor.image_processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.model.dtype)
        encoded = self.model.get_image_embeddings(pixels)
        if isinstance(encoded, tuple):  # SAM-HQ: the final and the intermediate embeddings
            given = {"image_embeddings": encoded[0], "intermediate_embeddings": encoded[1]}
        else:
            given = {"image_embeddings": encoded}
        embedding = Embedding(given, tuple(int(v) for v in inputs["original_sizes"][0]),
                              tuple(int(v) for v in inputs["reshaped_input_sizes"][0]))
        self._cache[key] = embedding
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return embedding

    def _decode(self, embedding: Embedding, prompt: SegmentPrompt) -> tuple[np.ndarray, float]:
        (h, w), (rh, rw) = embedding.original, embedding.resized
        sx, sy = rw / w, rh / h  # region pixels -> the model's resized image
        given: dict[str, Any] = dict(embedding.inputs)
        if prompt.points:
            points = [[x * sx, y * sy] for x, y in prompt.points]
            given["input_points"] = torch.tensor([[points]], dtype=torch.float32, device=self.device)
            given["input_labels"] = torch.tensor([[list(prompt.labels)]], dtype=torch.long, device=self.device)
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            given["input_boxes"] = torch.tensor([[[x0 * sx, y0 * sy, x1 * sx, y1 * sy]]], dtype=torch.float32, device=self.device)
        # One click is ambiguous (the shirt, the person, the crowd?): SAM offers three masks
        # and scores them; with more clicks or a box one mask is asked for, as SAM advises.
        several = len(prompt.points) == 1 and prompt.box is None
        out = self.model(**given, multimask_output=several)
        scores = out.iou_scores[0, 0].float()
        best = int(scores.argmax())
        masks = self.processor.image_processor.post_process_masks(
            out.pred_masks[:, :, best : best + 1].float().cpu(), [[h, w]], [[rh, rw]])
        return masks[0][0, 0].numpy().astype(bool), float(scores[best])


def _locate(name: str) -> str:
    path = Path(name).expanduser()
    if path.is_file():
        raise SegmentError(f"--segmenter {name}: give a folder saved by transformers (config.json, model.safetensors, "
                           "preprocessor_config.json) or a hub id; Meta's .pth checkpoints need converting first "
                           "(transformers' convert_sam_to_hf.py)")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise SegmentError(f"--segmenter {name}: not a transformers model folder (no config.json)")
        return str(path)
    if not HUB_ID.match(name) or name.startswith((".", "~")):
        raise SegmentError(f"--segmenter {name}: no such folder (and not a hub id like facebook/sam-vit-base)")
    return name


def _model_type(name: str, where: str, offline: bool) -> str:
    """"sam" or "sam_hq", from the model's config; anything else is refused now."""
    path = Path(where)
    try:
        if path.is_dir():
            config = json.loads((path / "config.json").read_text())
        else:
            from transformers import AutoConfig

            with _quiet():
                config = AutoConfig.from_pretrained(where, local_files_only=offline).to_dict()
    except Exception as exc:
        if offline and not path.is_dir():
            raise SegmentError(f"--segmenter {name}: not in the local Hugging Face cache (--offline): download it "
                               "once with a network, or give a local folder") from exc
        raise SegmentError(f"--segmenter {name}: cannot read its config: {_first_line(exc)}") from exc
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind not in KINDS:
        raise SegmentError(f"--segmenter {name}: a {kind or 'unknown'} model, not Segment Anything "
                           f"(expected model_type {' or '.join(KINDS)})")
    return kind


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SegmentError("--device cuda: no CUDA GPU is available to this PyTorch build")
    if name not in ("cuda", "cpu", "mps"):
        raise SegmentError(f"unknown device {name!r} for the segmenter")
    return torch.device(name)


def _rgb(image: np.ndarray) -> np.ndarray:
    """RGB uint8; empty canvas (alpha 0) shows as flat grey, half-known pixels blend into it."""
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise SegmentError(f"expected an RGB or RGBA uint8 image, got {image.dtype} {image.shape}")
    if image.shape[2] == 3:
        return np.ascontiguousarray(image)
    alpha = image[..., 3:].astype(np.uint16)
    rgb = (image[..., :3].astype(np.uint16) * alpha + UNKNOWN_GREY * (255 - alpha) + 127) // 255
    return rgb.astype(np.uint8)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No loading bars or backend advice from transformers: our errors say what matters."""
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
