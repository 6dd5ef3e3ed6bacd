"""The websocket protocol, version 2: frames, message fields and their validation.

Text frames hold one JSON object `{"type": ..., "id": ..., ...}`. Binary frames are a
4-byte big-endian header length, a UTF-8 JSON header (shaped like a text message), then
raw pixels. Everything a client sends passes through here and comes out typed (a `Rect`,
a `JobSpec`) or raises `ApiError` with a stable code; see docs/protocol.md.

    message = parse_text('{"type": "expand", "down": 512}')
    spec, auto, painter = job_spec(message, Expand(down=512), {"patchmatch": PatchMatchPainter.OPTIONS}, windows={})
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from canvas.jobs import Expand, Frame, Inpaint, JobError, JobSpec, TilerSettings
from canvas.jobs.spec import DEFAULT_STRATEGY, MAX_GROW, MAX_LEVEL, REFINE_STRENGTH, STRATEGIES, prefill_for
from canvas.library.names import MAX_NAME
from canvas.painters import SAMPLING_DEFAULTS, Choice, Option, PaintRequest
from canvas.server import limits
from canvas.segment.prompt import SegmentError, SegmentPrompt
from canvas.server.errors import ApiError, bad, too_large
from canvas.store import Store
from tiler.rect import Rect

# 2: `segment` and `welcome.segmenter`. 3: pushed tiles come as one `tiles` frame per change
# (not a `tile` frame each); a `subscribe` may ask for the pixels of tiles it lacks (`send`);
# `welcome.painter_pools`, windows and jobs painted at once. Added within 3 (nothing breaks):
# `welcome.painter_info`, and steps, guidance and strength a job leaves out are its painter's.
VERSION = 3
TILE = Store.TILE
COMMANDS = ("subscribe", "outpaint", "expand", "inpaint", "zoomout", "grow", "video", "cancel", "undo", "redo", "accept",
            "discard", "history", "ping", "segment", "rescan")
_MISSING = object()

# Parameters of a job, with the bounds a client may ask for. The job's own classes
# (TilerSettings, JobSpec) check the rest and raise JobError, mapped to `bad_params`.
# Besides these, a job may give the options of its painter (`Painter.OPTIONS`).
PARAMS = {
    "prompt", "negative_prompt", "seed", "steps", "guidance", "strength", "candidates",
    "auto_accept", "painter", "window", "context", "pad", "feather", "prefill", "colour_match",
    "strategy", "refine_strength", "model",
}


def parse_text(data: str) -> dict[str, Any]:
    if len(data) > limits.MAX_TEXT_FRAME:
        raise too_large(f"a text frame may hold at most {limits.MAX_TEXT_FRAME} bytes, got {len(data)}")
    try:
        message = json.loads(data)
    except ValueError as exc:
        raise bad(f"not JSON: {exc}", "bad_json") from None
    except RecursionError:
        raise bad("not JSON this server reads: nested too deep", "bad_json") from None
    return _check_message(message)


def parse_binary(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a binary frame into its JSON header and its payload."""
    if len(data) > limits.MAX_BINARY_FRAME:
        raise too_large(f"a binary frame may hold at most {limits.MAX_BINARY_FRAME} bytes, got {len(data)}")
    if len(data) < 4:
        raise bad("a binary frame starts with a 4-byte header length", "bad_frame")
    (size,) = struct.unpack(">I", data[:4])
    if size > limits.MAX_HEADER or 4 + size > len(data):
        raise bad(f"the header length {size} does not fit the frame (at most {limits.MAX_HEADER})", "bad_frame")
    try:
        header = json.loads(data[4 : 4 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"the binary frame's header is not JSON: {exc}", "bad_json") from None
    except RecursionError:
        raise bad("the binary frame's header is nested too deep", "bad_json") from None
    return _check_message(header), data[4 + size :]


def encode_binary(header: dict[str, Any], payload: bytes | memoryview | Sequence[bytes]) -> bytes:
    """A binary frame: 4-byte big-endian header length, JSON header, payload. A payload given
    as pieces (the tiles of one frame) is copied once, into the frame."""
    head = json.dumps(header, separators=(",", ":")).encode()
    pieces = [payload] if isinstance(payload, (bytes, bytearray, memoryview)) else list(payload)
    return b"".join([struct.pack(">I", len(head)), head, *pieces])


def tiles_payload(tiles: list[tuple[int, int, int, bytes]], listed_as: str = "tiles") -> tuple[dict[str, Any], list[bytes]]:
    """Several tiles of one level as one binary message: the header fields (`listed_as`:
    [[tx, ty, rev], ...], `w`, `h`, `format` "rgba") and the payload, their raw RGBA in that
    order (as pieces, for `encode_binary`). One message, not one a tile: the client takes
    them in one go and draws once."""
    header = {listed_as: [[tx, ty, rev] for tx, ty, rev, _ in tiles], "w": TILE, "h": TILE, "format": "rgba"}
    return header, [rgba for *_, rgba in tiles]


def tiles_frame(header: dict[str, Any], tiles: list[tuple[int, int, int, bytes]]) -> bytes:
    """A `tiles` push: `header` (type, level) and the tiles' pixels (see `tiles_payload`)."""
    listed, pixels = tiles_payload(tiles)
    return encode_binary({**header, **listed}, pixels)


def _check_message(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise bad("a message is a JSON object with a \"type\"", "bad_message")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise bad("a message needs a string \"type\"", "missing_field")
    if kind not in COMMANDS:
        raise bad(f"unknown message type {kind[:40]!r}; expected one of {', '.join(COMMANDS)}", "unknown_type")
    request_id = message.get("id")
    if request_id is not None and not (isinstance(request_id, (str, int)) and not isinstance(request_id, bool) and len(str(request_id)) <= 64):
        raise bad("\"id\" must be a string or integer of at most 64 characters", "bad_field")
    return message


# -- fields ------------------------------------------------------------------------------


def integer(message: dict[str, Any], key: str, low: int, high: int, default: Any = _MISSING) -> int:
    value = _get(message, key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad(f"{key} must be a whole number, got {_show(value)}", "bad_field")
    if not low <= value <= high:
        raise bad(f"{key} must be between {low} and {high}, got {value}", "out_of_range")
    return value


def number(message: dict[str, Any], key: str, low: float, high: float, default: Any = _MISSING) -> float:
    value = _get(message, key, default)
    # An int is finite however long (JSON allows 10**400, which no float holds): only the range check applies.
    if not isinstance(value, (int, float)) or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise bad(f"{key} must be a number, got {_show(value)}", "bad_field")
    if not low <= value <= high:
        raise bad(f"{key} must be between {low} and {high}, got {value}", "out_of_range")
    return float(value)


def text(message: dict[str, Any], key: str, longest: int, default: Any = _MISSING) -> str:
    value = _get(message, key, default)
    if not isinstance(value, str):
        raise bad(f"{key} must be a string, got {_show(value)}", "bad_field")
    if len(value) > longest:
        raise bad(f"{key} may be at most {longest} characters, got {len(value)}", "out_of_range")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON allows lone surrogates ("\ud800"); files and PNG text do not
        raise bad(f"{key} is not valid Unicode (a lone surrogate)", "bad_field") from None
    return value


def flag(message: dict[str, Any], key: str, default: Any = _MISSING) -> bool:
    value = _get(message, key, default)
    if not isinstance(value, bool):
        raise bad(f"{key} must be true or false, got {_show(value)}", "bad_field")
    return value


def rect(message: dict[str, Any], side: int, pixels: int | None = None) -> Rect:
    """The rectangle x, y, w, h of a message, bounded a side and in area."""
    x = integer(message, "x", -limits.MAX_COORD, limits.MAX_COORD)
    y = integer(message, "y", -limits.MAX_COORD, limits.MAX_COORD)
    w = integer(message, "w", 1, side)
    h = integer(message, "h", 1, side)
    if pixels is not None and w * h > pixels:
        raise bad(f"{w}x{h} px is more than the {pixels} px allowed", "out_of_range")
    return Rect(x, y, w, h)


def level(message: dict[str, Any]) -> int:
    return integer(message, "level", 0, MAX_LEVEL, 0)


def _get(message: dict[str, Any], key: str, default: Any) -> Any:
    if key in message:
        return message[key]
    if default is _MISSING:
        raise bad(f"missing field {key!r}", "missing_field")
    return default


def _show(value: Any) -> str:
    shown = json.dumps(value) if not isinstance(value, (bytes, bytearray)) else "bytes"
    return shown if len(shown) <= 40 else shown[:37] + "..."


# -- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewport:
    level: int
    rect: Rect


def viewport(message: dict[str, Any]) -> Viewport:
    return Viewport(level(message), rect(message, limits.MAX_VIEWPORT_SIDE))


def tiles_to_send(message: dict[str, Any], view: Viewport) -> list[tuple[int, int]]:
    """A `subscribe`'s `send`: the tiles [tx, ty] of its viewport whose pixels the client
    wants in the answer (it has none of them yet), at most `MAX_SENT_TILES`, in its order."""
    wanted = message.get("send", [])
    if not isinstance(wanted, list):
        raise bad("send must be a list of [tx, ty] tiles", "bad_field")
    if len(wanted) > limits.MAX_SENT_TILES:
        raise bad(f"send may name at most {limits.MAX_SENT_TILES} tiles, got {len(wanted)}", "out_of_range")
    x0, y0 = view.rect.x // TILE, view.rect.y // TILE
    x1, y1 = (view.rect.x1 - 1) // TILE, (view.rect.y1 - 1) // TILE
    tiles: list[tuple[int, int]] = []
    for item in wanted:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            raise bad(f"each tile of send is [tx, ty], whole numbers; got {_show(item)}", "bad_field")
        tx, ty = item
        if not (x0 <= tx <= x1 and y0 <= ty <= y1):
            raise bad(f"tile [{tx}, {ty}] of send is outside the subscribed viewport", "out_of_range")
        if (tx, ty) not in tiles:
            tiles.append((tx, ty))
    return tiles


def expand_target(message: dict[str, Any]) -> Expand:
    sides = {side: integer(message, side, 0, MAX_GROW, 0) for side in ("left", "right", "up", "down")}
    return _job(Expand, **sides)


def frame_target(message: dict[str, Any]) -> Frame:
    return Frame(rect(message, limits.MAX_FRAME_SIDE, limits.MAX_FRAME_PIXELS))


def inpaint_target(message: dict[str, Any], payload: bytes) -> Inpaint:
    box = rect(message, limits.MAX_FRAME_SIDE, limits.MAX_FRAME_PIXELS)
    if len(payload) != box.w * box.h:
        raise bad(f"the mask must be w*h = {box.w * box.h} bytes (one a pixel), got {len(payload)}", "bad_mask")
    mask = np.frombuffer(payload, dtype=np.uint8).reshape(box.h, box.w) != 0
    return _job(Inpaint, mask, box.x, box.y)


@dataclass(frozen=True)
class SegmentRequest:
    level: int
    rect: Rect  # the region segmented (the client's frame), at `level`
    prompt: SegmentPrompt  # in the region's pixels


def segment_request(message: dict[str, Any]) -> SegmentRequest:
    """A `segment` command: the region x, y, w, h at `level`, and `points` ([[x, y], ...]
    with `labels`, 1 in and 0 out) and/or `box` ([x0, y0, x1, y1]), in the level's pixels."""
    region = rect(message, limits.MAX_FRAME_SIDE, limits.MAX_FRAME_PIXELS)
    points = message.get("points", [])
    if not isinstance(points, list) or len(points) > limits.MAX_SEGMENT_POINTS:
        raise bad(f"points must be a list of at most {limits.MAX_SEGMENT_POINTS} [x, y] pairs", "bad_points")
    try:
        prompt = SegmentPrompt.of(points, message.get("labels"), message.get("box"), (region.w, region.h),
                                  (region.x, region.y))
    except SegmentError as exc:
        raise bad(str(exc), "bad_points") from None
    return SegmentRequest(level(message), region, prompt)


def job_spec(message: dict[str, Any], target: Any, painters: Mapping[str, Mapping[str, Option | Choice]],
             windows: Mapping[str, int], defaults: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[JobSpec, bool, str]:
    """The JobSpec a command asks for, whether its candidates are accepted unasked, and
    the painter that paints it: `params.painter`, one of `painters` (served painter name
    -> its options; the first is the default). Only that painter's options are allowed.
    `windows`: each painter's native window (if it has one), the window of jobs that give none;
    `defaults`: each painter's steps, guidance and strength (`defaults_of`), for jobs that give none."""
    request, settings, auto, painter = job_settings(message, painters, windows, defaults)
    spec = _job(JobSpec, target, request=request, tiler=settings, level=level(message), **strategy(message))
    return spec, auto, painter


def strategy(message: dict[str, Any]) -> dict[str, Any]:
    """A job's `params.strategy` (tiles, coarse, auto) and `params.refine_strength`, as
    JobSpec fields (canvas/jobs/coarse.py)."""
    params = message.get("params", {})
    if not isinstance(params, dict):
        raise bad("params must be an object", "bad_field")
    chosen = text(params, "strategy", 16, DEFAULT_STRATEGY)
    if chosen not in STRATEGIES:
        raise bad(f"strategy must be one of {', '.join(STRATEGIES)}, got {chosen[:40]!r}", "bad_choice")
    return {"strategy": chosen, "refine_strength": number(params, "refine_strength", 0.0, 1.0, REFINE_STRENGTH)}


def job_settings(message: dict[str, Any], painters: Mapping[str, Mapping[str, Option | Choice]],
                 windows: Mapping[str, int], defaults: Mapping[str, Mapping[str, Any]] | None = None,
                 ) -> tuple[PaintRequest, TilerSettings, bool, str]:
    """The painting and tiling settings of a command's `params` (see `job_spec`)."""
    params = message.get("params", {})
    if not isinstance(params, dict):
        raise bad("params must be an object", "bad_field")
    painter = text(params, "painter", 64, next(iter(painters)))
    if painter not in painters:
        raise ApiError("bad_params", f"painter {painter[:40]!r} is not served here; served: {', '.join(painters)}")
    options = painters[painter]
    known = PARAMS | set(options)
    unknown = sorted(set(params) - known)
    if unknown:
        raise bad(f"unknown parameter {unknown[0][:40]!r} for painter {painter!r}; known: {', '.join(sorted(known))}", "bad_field")
    sampling = {**SAMPLING_DEFAULTS, **(defaults or {}).get(painter, {})}  # the painter's, e.g. FLUX Fill's 50 steps
    request = PaintRequest(
        prompt=text(params, "prompt", limits.MAX_PROMPT, ""),
        negative_prompt=text(params, "negative_prompt", limits.MAX_PROMPT, ""),
        seed=integer(params, "seed", 0, 2**32 - 1, 0),
        steps=integer(params, "steps", 1, 150, sampling["steps"]),
        guidance=number(params, "guidance", 0.0, 30.0, sampling["guidance"]),
        strength=number(params, "strength", 0.0, 1.0, sampling["strength"]),
        candidates=integer(params, "candidates", 1, 4, 1),
        options={key: _option(params, key, option) for key, option in options.items() if key in params},
        # A library name, checked against the library before the job is queued (models.py).
        model=text(params, "model", MAX_NAME) if params.get("model") is not None else None,
    )
    tiling = TilerSettings(window=windows.get(painter) or TilerSettings().window)
    settings = _job(
        TilerSettings,
        window=integer(params, "window", 512, 1024, tiling.window),
        context=number(params, "context", 0.0, 1.0, tiling.context),
        pad=integer(params, "pad", 0, 1024, tiling.pad),
        feather=integer(params, "feather", 0, 1024, tiling.feather),
        prefill=text(params, "prefill", 32, prefill_for({**_choice_defaults(options), **request.options}, tiling.prefill)),
        colour_match=flag(params, "colour_match", tiling.colour_match),
    )
    auto = flag(params, "auto_accept", request.candidates == 1)
    return request, settings, auto, painter


def _choice_defaults(options: Mapping[str, Option | Choice]) -> dict[str, str]:
    """What a painter's choices are when a job gives none (a served painter's defaults:
    `serve --masked-content original` makes every job start from the canvas's pixels)."""
    return {key: option.default for key, option in options.items() if isinstance(option, Choice)}


def _option(params: dict[str, Any], key: str, option: Option | Choice) -> int | float | str:
    if isinstance(option, Choice):
        value = text(params, key, 64)
        if value not in option.choices:
            raise bad(f"{key} must be one of: {', '.join(option.choices)}; got {value[:40]!r}", "bad_choice")
        return value
    if option.integer:
        return integer(params, key, int(option.low), int(option.high))
    return number(params, key, option.low, option.high)


def _job(cls: Any, *args: Any, **kwargs: Any) -> Any:
    """Build a job class, turning its JobError into the protocol's typed error."""
    try:
        return cls(*args, **kwargs)
    except JobError as exc:
        raise ApiError("bad_params", str(exc)) from None
