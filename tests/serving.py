"""A real Boundless server on an ephemeral 127.0.0.1 port, and a websocket client for tests."""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from PIL import Image
from websockets.sync.client import connect

from canvas.painters import Cancelled, PaintProgress
from canvas.server import ServerConfig, create_app
from canvas.server.limits import TRANSPORT_MAX


class TintPainter:
    """Echo with a visible difference per candidate, progress with previews, and an
    optional delay per step (checked for cancel) so tests can catch a job mid-way."""

    name = "tint"
    repaints_band = True

    def __init__(self) -> None:
        self.delay = 0.0
        self.steps = 2

    def describe(self) -> dict[str, Any]:
        return {"painter": self.name}

    def paint(self, image, mask, request, progress, cancel):
        for step in range(1, self.steps + 1):
            deadline = time.monotonic() + self.delay
            while time.monotonic() < deadline:
                cancel.raise_if_cancelled()
                time.sleep(0.01)
            cancel.raise_if_cancelled()
            progress(PaintProgress(step, self.steps, image[::8, ::8].copy()))
        out = []
        for i in range(max(1, request.candidates)):
            rgb = image.copy()
            rgb[mask] = (40 + 60 * i, 90, 160)
            out.append(rgb)
        return out


class Server:
    def __init__(self, data: Path, token: str | None = None, canvas: Path | None = None, port: int = 0,
                 painters: dict[str, Any] | None = None) -> None:
        """Serves `painters` (by name, the first the default), else one TintPainter."""
        self.data = data
        self.painter = TintPainter()
        app = create_app(ServerConfig(data=data, canvas=canvas, token=token), painters or {"tint": self.painter})
        self.state = app.state.server  # the running server's state, for white-box checks
        config = uvicorn.Config(app, host="127.0.0.1", port=port, ws_max_size=TRANSPORT_MAX, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.origin = self.base

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)

    def http(self, method: str, path: str, body: bytes | dict | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()

    def socket(self, canvas: str = "default", **kwargs: Any) -> "Client":
        # Entered as a context manager, as websockets asks; Client.close leaves it.
        return Client(connect(f"ws://127.0.0.1:{self.port}/ws/{canvas}", max_size=TRANSPORT_MAX, **kwargs).__enter__())


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict] = []
        self.welcome = self.next("welcome")

    def send(self, message: dict | str | bytes) -> None:
        self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    def send_binary(self, header: dict, payload: bytes) -> None:
        head = json.dumps(header).encode()
        self.ws.send(struct.pack(">I", len(head)) + head + payload)

    def recv(self, timeout: float = 15) -> dict:
        frame = self.ws.recv(timeout=timeout)
        if isinstance(frame, bytes):
            (size,) = struct.unpack(">I", frame[:4])
            message = json.loads(frame[4 : 4 + size])
            message["payload"] = frame[4 + size :]
        else:
            message = json.loads(frame)
        self.seen.append(message)
        return message

    def next(self, kind: str, timeout: float = 15, **match: Any) -> dict:
        """The next message of type `kind` (and matching fields); others are kept in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message

    def ask(self, message: dict) -> dict:
        """Send a command and return its answer (`ok` or `error` with the same id)."""
        message = {"id": f"r{len(self.seen)}-{time.monotonic_ns()}", **message}
        self.send(message)
        while True:
            answer = self.recv()
            if answer["type"] in ("ok", "error") and answer.get("id") == message["id"]:
                return answer

    def close(self) -> None:
        self.ws.close()


def png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
