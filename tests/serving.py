"""A real Boundless server on an ephemeral 127.0.0.1 port, and a websocket client for tests.

`Server` runs in this process (a thread); `ChildServer` runs in a child process (this file
run as a script) so that tests and benchmarks can kill it with SIGKILL or measure it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
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
from canvas.server.app import UVICORN
from canvas.server.limits import TRANSPORT_MAX

ROOT = Path(__file__).resolve().parents[1]


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


class FillLikePainter(TintPainter):
    """Says what it uses and its own defaults, as FLUX.1 Fill does; keeps each request."""

    name = "fill"
    label = "FLUX.1 Fill · tiny"
    uses = ("prompt", "steps", "guidance")
    defaults = {"steps": 50, "guidance": 30.0}

    def __init__(self) -> None:
        super().__init__()
        self.requests = []

    def paint(self, image, mask, request, progress, cancel):
        self.requests.append(request)
        return super().paint(image, mask, request, progress, cancel)


def flat_colour(seed: int) -> tuple[int, int, int]:
    """A colour told apart from every other seed's (with near certainty), none of it 0."""
    rng = random.Random(seed * 2654435761 % 2**32)
    return tuple(rng.randrange(1, 256) for _ in range(3))  # type: ignore[return-value]


class FlatPainter:
    """Paints exactly the unknown pixels it is asked for (it keeps known ones, as PatchMatch
    does) in one flat colour from the window's seed, after `delay` s (checked for cancel).
    Each committed window is then recognisable on the canvas, whole or not at all."""

    name = "flat"
    repaints_band = False
    skips_void = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def describe(self) -> dict[str, Any]:
        return {"painter": self.name}

    def paint(self, image, mask, request, progress, cancel, void=None):
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline:
            cancel.raise_if_cancelled()
            time.sleep(0.005)
        cancel.raise_if_cancelled()
        progress(PaintProgress(1, 1))
        rgb = image.copy()
        rgb[mask] = flat_colour(request.seed)
        return [rgb] * max(1, request.candidates)


class Endpoint:
    """HTTP and websocket access to a server at `self.port` (`Server`, `ChildServer`)."""

    port: int
    base: str

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


class Server(Endpoint):
    def __init__(self, data: Path, token: str | None = None, canvas: Path | None = None, port: int = 0,
                 painters: dict[str, Any] | None = None, log_level: str = "warning",
                 window_timeout: float | None = 600.0, segmenter: Any = None, pings: bool = True,
                 library: Any = None) -> None:
        """Serves `painters` (by name, the first the default), else one TintPainter; `segmenter`;
        and `library`, the models library jobs name models and LoRAs from.
        `pings` False: no websocket keepalive pings (uvicorn draws their payload from the
        global `random` on the server's thread, which hypothesis takes for a strategy's doing)."""
        self.data = data
        self.painter = TintPainter()
        app = create_app(ServerConfig(data=data, canvas=canvas, token=token, window_timeout=window_timeout),
                         painters or {"tint": self.painter}, segmenter, library)
        self.state = app.state.server  # the running server's state, for white-box checks
        options = {**UVICORN, **({} if pings else {"ws_ping_interval": None})}  # as `boundless serve` runs it
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, **options)
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


class ChildServer(Endpoint):
    """A server in a child process: this file run as a script, or `boundless serve` when
    `command` is given (it must print nothing before its port is known: pass --port).

        server = ChildServer(tmp_path / "data", delay=0.05)    # a FlatPainter
        server.kill()                                          # SIGKILL, no goodbye
    """

    def __init__(self, data: Path, delay: float = 0.0, painter: str = "flat", token: str | None = None,
                 command: list[str] | None = None, port: int | None = None, stderr: Any = None,
                 cache_mb: float = 256) -> None:
        self.data = data
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
        if command is None:
            command = [sys.executable, str(Path(__file__).resolve()), "--data", str(data), "--delay", str(delay),
                       "--painter", painter, "--cache-mb", str(cache_mb)] + (["--token", token] if token else [])
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=ROOT, text=True)
        if port is None:
            line = self.process.stdout.readline()
            if not line.startswith("PORT "):
                self.process.kill()
                raise RuntimeError(f"the child server did not start: {line!r}")
            port = int(line.split()[1])
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.origin = self.base
        self.pid = self.process.pid

    def rss_mb(self, kind: str = "VmRSS") -> float:
        """The child's resident memory now, from /proc (0 where there is no /proc): all of
        it (VmRSS), or its heap and stacks (RssAnon), or mapped file pages (RssFile)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(kind + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(20)
        self.process.stdout.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)
        self.process.stdout.close()


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


def _child(argv: list[str]) -> None:
    """`python tests/serving.py --data DIR`: serve on an ephemeral port, print `PORT n`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--painter", default="flat", choices=("flat", "patchmatch"))
    parser.add_argument("--token")
    parser.add_argument("--cache-mb", type=float, default=256)
    args = parser.parse_args(argv)
    if args.painter == "flat":
        painters: dict[str, Any] = {"flat": FlatPainter(args.delay)}
    else:
        from canvas.painters import load_painters

        painters = load_painters(["patchmatch"])
    app = create_app(ServerConfig(data=Path(args.data), token=args.token, cache_mb=args.cache_mb), painters)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **UVICORN))
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            sys.exit(1)
        time.sleep(0.01)
    print(f"PORT {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    thread.join()


if __name__ == "__main__":
    _child(sys.argv[1:])
