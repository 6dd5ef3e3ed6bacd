"""Every size the server accepts, in one place: sent to clients in `welcome`, and listed in
docs/protocol.md. A limit turns a typo (an extra zero) or a hostile client into a clear
error instead of an hour of work or an exhausted machine.
"""

from __future__ import annotations

from canvas.segment.prompt import MAX_POINTS

MAX_TEXT_FRAME = 64 * 1024  # bytes of one JSON text frame
MAX_BINARY_FRAME = 16 * 1024 * 1024 + 64 * 1024  # bytes of one binary frame (header + mask)
MAX_HEADER = 16 * 1024  # bytes of a binary frame's JSON header
TRANSPORT_MAX = 32 * 1024 * 1024  # beyond this the websocket layer closes the socket (1009)
MAX_FRAME_SIDE = 4096  # px a side of an outpaint or inpaint rectangle, at its level
MAX_FRAME_PIXELS = 16 * 1024 * 1024  # px in that rectangle (an inpaint mask: 1 byte each)
MAX_VIEWPORT_SIDE = 8192  # px a side of a subscribed viewport, at its level
MAX_PROMPT = 2000  # characters of a prompt or negative prompt
MAX_QUEUED_PER_CLIENT = 4  # jobs a client may have queued or running
MAX_QUEUED = 64  # jobs waiting in the whole server
MAX_RUNNING_JOBS = 8  # jobs painting at once (on as many canvases), sharing the painters window by window
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # bytes of an uploaded image file
MAX_UPLOAD_SIDE = 8192  # px a side of an uploaded image
MAX_UPLOAD_PIXELS = 32 * 1024 * 1024  # px of an uploaded image
DECODING_AT_ONCE = 2  # uploads decoded at the same time (each up to 128 MB of RGBA); others wait
MAX_EXPORT_PIXELS = 32 * 1024 * 1024  # px of an exported rectangle
MAX_COORD = 1 << 30  # |x|, |y| of any rectangle: far beyond any canvas, far below overflow
MAX_SEGMENT_POINTS = MAX_POINTS  # clicks of one `segment` command (its region: an inpaint rectangle's bounds)
MAX_CANVASES = 1000
PROGRESS_INTERVAL = 0.1  # s between relayed progress events of one job
COMMANDS_PER_SECOND = 200  # websocket commands of one client, sustained; more wait their turn
COMMAND_BURST = 400  # commands one client may send at once before the pace applies


def as_dict() -> dict[str, int]:
    """The limits a client needs to know, for `welcome`."""
    names = (
        "MAX_TEXT_FRAME MAX_BINARY_FRAME MAX_FRAME_SIDE MAX_FRAME_PIXELS MAX_VIEWPORT_SIDE "
        "MAX_PROMPT MAX_SEGMENT_POINTS MAX_QUEUED_PER_CLIENT MAX_UPLOAD_BYTES MAX_UPLOAD_SIDE MAX_UPLOAD_PIXELS MAX_EXPORT_PIXELS"
    ).split()
    return {name.lower().removeprefix("max_"): globals()[name] for name in names}
