"""Writing frames to a file: MP4 (H.264) and animated WebP through PyAV, whose wheel ships
FFmpeg with libx264 and libwebp; GIF through Pillow (FFmpeg's GIF encoder wants a
palette it cannot make well).

    with open_writer(Path("zoom.mp4"), 512, 512, fps=30) as writer:
        writer.write(rgb)          # (512, 512, 3) uint8, once per frame
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

FORMATS = ("mp4", "webp", "gif")
MIME = {"mp4": "video/mp4", "webp": "image/webp", "gif": "image/gif"}


def format_of(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"a zoom video is written as {', '.join('.' + f for f in FORMATS)}; got {path.name!r}")
    return fmt


class AvWriter:
    """MP4 or WebP, encoded frame by frame (nothing piles up in memory)."""

    def __init__(self, path: Path, fmt: str, width: int, height: int, fps: int) -> None:
        import av

        options = {"loop": "0"} if fmt == "webp" else {"movflags": "+faststart"}
        self.container = av.open(str(path), "w", format=fmt, options=options)
        codec, encoder_options = ("libx264", {"crf": "18", "preset": "veryfast"}) if fmt == "mp4" else ("libwebp", {"quality": "85"})
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = encoder_options
        self._frame = av.VideoFrame

    def write(self, rgb: np.ndarray) -> None:
        for packet in self.stream.encode(self._frame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        self.container.close()


class GifWriter:
    """Frames quantised to one palette (taken from the first frame: a zoom keeps its colours)."""

    def __init__(self, path: Path, fps: int) -> None:
        self.path, self.duration = path, round(1000 / fps)
        self.frames: list[Image.Image] = []

    def write(self, rgb: np.ndarray) -> None:
        image = Image.fromarray(rgb)
        if not self.frames:
            self.frames.append(image.quantize(256, method=Image.Quantize.MEDIANCUT))
        else:
            self.frames.append(image.quantize(palette=self.frames[0], dither=Image.Dither.NONE))

    def close(self) -> None:
        first, *rest = self.frames
        first.save(self.path, save_all=True, append_images=rest, duration=self.duration, loop=0, optimize=False)

    def abort(self) -> None:
        self.frames.clear()


def open_writer(path: Path, width: int, height: int, fps: int) -> Any:
    fmt = format_of(path)
    return GifWriter(path, fps) if fmt == "gif" else AvWriter(path, fmt, width, height, fps)
