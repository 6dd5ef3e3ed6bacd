"""What one running server holds: its settings, canvases, painters, queue, broadcaster and
the cache of encoded tiles."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from canvas.jobs import TilerSettings
from canvas.jobs.pool import PainterPool, profile_of
from canvas.library import Library
from canvas.painters import Painter, defaults_of, label_of, options_of, uses_of
from canvas.painters.diffusion.lora_tags import painter_family
from canvas.server import limits
from canvas.server.broadcast import Broadcaster
from canvas.server.canvases import Canvases
from canvas.server.errors import conflict
from canvas.server.queue import JobQueue
from canvas.server.tile_images import TileImages
from canvas.server.videos import Videos


@dataclass(frozen=True)
class ServerConfig:
    data: Path  # the folder of canvases
    canvas: Path | None = None  # served as the default canvas, named after its stem
    token: str | None = None
    window_timeout: float | None = 600.0  # s one window may paint before its job fails with `timeout`
    cache_mb: float = 256  # decoded tiles kept in memory, all canvases together


class ServerState:
    def __init__(self, config: ServerConfig, painters: Mapping[str, Painter | PainterPool], segmenter: Any = None,
                 library: Library | None = None) -> None:
        """`painters` by name, the first paints jobs that name none: painter objects (each
        paints one window at a time, here) or pools (`serve --painters N`, `--ray`).
        `library`: the models library (`--models`) jobs name models and LoRAs from."""
        if not painters:
            raise ValueError("a server needs at least one painter")
        self.config = config
        pools = {name: given for name, given in painters.items() if _is_pool(given)}
        # What the welcome, the options and the history read of each: a pool's painter
        # is described by its profile (built where it paints).
        self.painters = {name: profile_of(pools[name], name) if name in pools else given for name, given in painters.items()}
        self.segmenter = segmenter  # canvas.segment's Segmenter, or None: no `segment` command
        self.library = library  # canvas.library's Library (the painters scan the same folders), or None
        self.options = {name: dict(options_of(painter)) for name, painter in self.painters.items()}
        # The window each painter paints best at (a model's training size): jobs that give
        # none get it, and `welcome.painter_windows` tells the client.
        self.windows = {name: int(getattr(painter, "native_window", None) or TilerSettings().window)
                        for name, painter in self.painters.items()}
        # Which settings each painter uses (checked here: a painter naming one that does not
        # exist fails the start), and the steps, guidance and strength of jobs that give none.
        self.uses = {name: uses_of(painter) for name, painter in self.painters.items()}
        self.defaults = {name: defaults_of(painter) for name, painter in self.painters.items()}
        self.canvases = Canvases(config.data, config.canvas, config.cache_mb)
        self.broadcaster = Broadcaster(self.canvases)
        self.queue = JobQueue(self.canvases, self.painters, self.broadcaster.job_event, config.window_timeout, pools,
                              library)
        self.tile_images = TileImages()
        self.decoding = asyncio.Semaphore(limits.DECODING_AT_ONCE)
        self.videos = Videos(config.data / ".videos")  # zoom videos waiting to be downloaded
        self._client_ids = itertools.count(1)

    def painter_options(self) -> dict[str, dict[str, dict[str, Any]]]:
        """`welcome.painter_options`: each served painter's options, as the protocol shows them."""
        return {name: {key: option.as_dict() for key, option in options.items()} for name, options in self.options.items()}

    def painter_info(self) -> dict[str, dict[str, Any]]:
        """`welcome.painter_info`: each served painter's label, the settings it uses and the
        defaults of those it uses; the diffusion painter's also the family of its model."""
        info = {}
        for name, painter in self.painters.items():
            uses = self.uses[name]
            defaults = {key: value for key, value in self.defaults[name].items() if key in uses}
            info[name] = {"label": label_of(painter), "uses": list(uses), "defaults": defaults}
            family = painter_family(painter) if getattr(painter, "name", "") == "diffusion" else None
            if family is not None:  # its default model's: the LoRAs that fit it (welcome.families)
                info[name]["family"] = family
        return info

    def new_client_id(self) -> str:
        return f"c{next(self._client_ids)}"

    def check_idle(self, canvas: str) -> None:
        """Refuse to rename or delete a canvas that has a job queued or running."""
        if self.queue.jobs(canvas):
            raise conflict("job_running", f"canvas {canvas!r} has a job queued or running; cancel it first")

    def close(self) -> None:
        self.queue.stop()
        self.videos.close()
        self.canvases.close()


def _is_pool(given: Any) -> bool:
    return callable(getattr(given, "submit", None)) and hasattr(given, "size")

