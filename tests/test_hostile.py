"""Hostile input, case by case: image bombs, masks of the wrong size, NaN and infinite
numbers, negative and enormous coordinates, unicode and very long prompts, path-like
canvas names. Each gets a clear error and nothing is written. Then another site's page
trying the websocket or the HTTP API, and the token: needed for everything, never logged.

(test_fuzz_protocol.py throws thousands of random ones; test_server_*.py has the basics.)
"""

from __future__ import annotations

import io
import json
import logging
import socket
import struct
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from serving import ChildServer, Client, FlatPainter, Server, png

FLAT = {"colour_match": False}


@pytest.fixture
def guarded(tmp_path):
    """A server with a small picture on its canvas, and what its data folder holds."""
    server = Server(tmp_path / "data", painters={"flat": FlatPainter()})
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(np.full((256, 256, 3), 99, np.uint8)))[0] == 201
    yield server
    server.stop()


def snapshot(server: Server) -> tuple:
    """What the data folder and the canvas hold: files, history, pixels."""
    files = sorted(p.name for p in server.data.iterdir() if not p.name.endswith(("-wal", "-shm")))
    client = server.socket()
    history = client.ask({"type": "history"})
    client.close()
    status, _, body = server.http("GET", "/api/canvases/default/export.png?x=-512&y=-512&w=1280&h=1280")
    assert status == 200
    return files, history["head"], history["revisions"], body


def code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with(w: int, h: int, idat: bytes, extra: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_image_bombs_and_odd_files_are_refused_and_nothing_is_written(guarded):
    before = snapshot(guarded)
    zeros = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)  # 64 MiB of pixels in about 64 KiB
    text_bomb = chunk(b"zTXt", b"comment\0\0" + zlib.compress(b"A" * (64 * 1024 * 1024), 9))
    gif = io.BytesIO()
    Image.new("P", (4, 4)).save(gif, format="GIF")
    huge_gif = gif.getvalue()[:6] + struct.pack("<HH", 65535, 65535) + gif.getvalue()[10:]  # its screen size
    cases = [
        (png_with(60000, 60000, zeros), 413, "too_large"),  # declared dimensions beyond the limit
        (png_with(9000, 10, zeros), 413, "too_large"),  # one side too long
        (png_with(4000, 4000, zlib.compress(b"\0" * 1000)), 400, "bad_image"),  # within limits, truncated
        (png_with(8, 8, zlib.compress(b"\0" * 200), text_bomb), 400, "bad_image"),  # a text chunk bomb
        (huge_gif, 413, "too_large"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", 400, "bad_image"),  # never run Ghostscript
        (b"GIF89a" + b"\xff" * 40, 400, "bad_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, 400, "bad_image"),
    ]
    for data, status, expected in cases:
        got, _, body = guarded.http("POST", "/api/canvases/default/upload?x=5&y=5", data)
        assert (got, code(body)) == (status, expected), (data[:40], body[:200])
    assert snapshot(guarded) == before


def test_hostile_websocket_messages_get_clear_errors_and_nothing_is_written(guarded):
    before = snapshot(guarded)
    client = guarded.socket()
    texts = [
        ('{"type": "expand", "down": NaN}', "bad_field"),
        ('{"type": "expand", "down": Infinity}', "bad_field"),
        ('{"type": "expand", "down": 1e400}', "bad_field"),
        ('{"type": "expand", "down": 64, "params": {"guidance": -Infinity}}', "bad_field"),
        ('{"type": "expand", "down": 64, "params": {"strength": NaN}}', "bad_field"),
        ('{"type": "expand", "down": -64}', "out_of_range"),
        ('{"type": "expand", "down": 64, "level": -1}', "out_of_range"),
        ('{"type": "expand", "down": 64, "level": 1e3}', "bad_field"),
        ('{"type": "outpaint", "x": -2147483648, "y": 0, "w": 512, "h": 512}', "out_of_range"),
        ('{"type": "outpaint", "x": 0, "y": 9223372036854775808, "w": 512, "h": 512}', "out_of_range"),
        ('{"type": "outpaint", "x": 0, "y": 0, "w": -512, "h": 512}', "out_of_range"),
        ('{"type": "outpaint", "x": 0, "y": 0, "w": 0, "h": 512}', "out_of_range"),
        ('{"type": "outpaint", "x": 0.5, "y": 0, "w": 512, "h": 512}', "bad_field"),
        ('{"type": "outpaint", "x": "0", "y": 0, "w": 512, "h": 512}', "bad_field"),
        ('{"type": "outpaint", "x": true, "y": 0, "w": 512, "h": 512}', "bad_field"),
        ('{"type": "outpaint", "x": 0, "y": 0, "w": 4096, "h": 4097}', "out_of_range"),
        ('{"type": "subscribe", "x": 0, "y": 0, "w": 8193, "h": 1}', "out_of_range"),
        ('{"type": "subscribe", "x": 1' + "0" * 5000 + ', "y": 0, "w": 1, "h": 1}', "bad_json"),
        ('{"type": "expand", "down": 64, "params": {"prompt": "' + "🦄" * 2001 + '"}}', "out_of_range"),
        ('{"type": "expand", "down": 64, "params": {"prompt": "lone \\ud800 surrogate"}}', "bad_field"),
        ('{"type": "expand", "down": 64, "params": {"negative_prompt": "\\udfff"}}', "bad_field"),
        ('{"type": "expand", "down": 64, "params": {"prompt": ["a list"]}}', "bad_field"),
        ('{"type": "expand", "down": 64, "params": {"seed": -1}}', "out_of_range"),
        ('{"type": "expand", "down": 64, "params": {"seed": 18446744073709551616}}', "out_of_range"),
        ('{"type": "expand", "down": 64, "params": []}', "bad_field"),
        ('{"type": "cancel", "job": {"$ne": null}}', "no_job"),
        ('{"type": "accept", "job": "j1", "candidate": 1e9}', "no_job"),
        ('{"type": "ping", "id": "' + "i" * 65 + '"}', "bad_field"),
        ("[" * 100000, "too_large"),
        ("[" * 60000, "bad_json"),
        ('{"type": "\\u0000ping"}', "unknown_type"),
    ]
    for text, expected in texts:
        client.send(text)
        answer = client.next("error")
        assert answer["code"] == expected, (text[:90], answer)
        assert len(answer["message"]) < 1000
    masks = [
        ({"type": "inpaint", "x": 0, "y": 0, "w": 64, "h": 64}, b"\x01" * (64 * 64 - 1), "bad_mask"),
        ({"type": "inpaint", "x": 0, "y": 0, "w": 64, "h": 64}, b"\x01" * (64 * 64 + 1), "bad_mask"),
        ({"type": "inpaint", "x": 0, "y": 0, "w": 4096, "h": 4096}, b"\x01" * 64, "bad_mask"),
        ({"type": "inpaint", "x": 0, "y": 0, "w": 5000, "h": 10}, b"\x01" * 50000, "out_of_range"),
        ({"type": "inpaint", "x": 0, "y": 0, "w": 0, "h": 0}, b"", "out_of_range"),
        ({"type": "inpaint", "x": float("nan"), "y": 0, "w": 8, "h": 8}, b"\x01" * 64, "bad_field"),
    ]
    for header, payload, expected in masks:
        client.send_binary(header, payload)
        answer = client.next("error")
        assert answer["code"] == expected, (header, answer)
    # A prompt at the limit, in any script, is fine (and is written down as given).
    answer = client.ask({"type": "expand", "down": 64, "params": {**FLAT, "prompt": "海" * 2000, "seed": 5}})
    assert answer["type"] == "ok"
    assert client.next("job.done", job=answer["job"])["status"] == "done"
    revision = client.ask({"type": "history"})["revisions"][-1]
    assert revision["params"]["prompt"] == "海" * 2000
    assert guarded.http("GET", "/api/canvases/default/export.png")[0] == 200
    assert client.ask({"type": "undo"})["type"] == "ok"
    client.close()
    files, head, revisions, pixels = snapshot(guarded)
    assert (files, head, pixels) == (before[0], before[1], before[3])


def test_path_like_canvas_names_are_refused_and_nothing_is_written(guarded, tmp_path):
    before = snapshot(guarded)
    names = ["../escape", "..", ".", "a/b", "a\\b", "/etc/passwd", "C:\\x", "x.canvas", "ａ", "a\x00b", "-lead",
             "_lead", "x" * 65, "a b", "🦄", "%2e%2e", "", None, 7, ["a"]]
    for name in names:
        status, _, body = guarded.http("POST", "/api/canvases", {"name": name})
        assert (status, code(body)) == (400, "bad_name"), (name, body)
    for path in ["/api/canvases/..%2Fescape/tiles/0/0/0.png", "/api/canvases/%2e%2e/export.png",
                 "/api/canvases/a%00b/upload", "/api/canvases/..%2F..%2Fetc"]:
        method = "POST" if path.endswith("upload") else "GET" if "tiles" in path or "export" in path else "DELETE"
        status, _, body = guarded.http(method, path, b"x" if method == "POST" else None)
        assert status in (400, 404, 405) and code(body) in ("bad_name", "not_found", "method_not_allowed"), (path, body)
    status, _, body = guarded.http("PATCH", "/api/canvases/default", {"name": "../../outside"})
    assert (status, code(body)) == (400, "bad_name")
    for name in ["..%2F..%2Fescape", "%2e%2e", "a%5Cb", "x" * 65, "%00"]:
        try:
            with connect(f"ws://127.0.0.1:{guarded.port}/ws/{name}") as ws:
                assert json.loads(ws.recv(timeout=10))["code"] in ("bad_name", "not_found")
        except InvalidStatus as refused:  # a name with a slash matches no route
            assert refused.response.status_code in (403, 404)
    assert snapshot(guarded) == before
    assert not list(tmp_path.glob("escape*")) and not list(guarded.data.parent.glob("*.canvas"))


# -- another site, the token ---------------------------------------------------------------


def test_another_site_cannot_open_the_socket_or_change_a_canvas(guarded):
    before = snapshot(guarded)
    evil = ["http://evil.example", "null", f"http://127.0.0.1:{guarded.port + 1}", f"https://127.0.0.1:{guarded.port}",
            f"http://127.0.0.1:{guarded.port}.evil.example", "http://localhost.evil.example", "file://"]
    for origin in evil:
        with pytest.raises(InvalidStatus) as refused:
            guarded.socket(origin=origin)
        assert refused.value.response.status_code == 403, origin
        for method, path, body in [("POST", "/api/canvases", {"name": "pwned"}),
                                   ("PATCH", "/api/canvases/default", {"name": "pwned"}),
                                   ("DELETE", "/api/canvases/default", None),
                                   ("POST", "/api/canvases/default/upload?x=0&y=0", png(np.zeros((8, 8, 3), np.uint8)))]:
            status, _, answer = guarded.http(method, path, body, {"Origin": origin})
            assert (status, code(answer)) == (403, "bad_origin"), (origin, method, path)
    # A page that rebinds its own name to 127.0.0.1 is another site too.
    for host in ["evil.example", f"evil.example:{guarded.port}", "127.0.0.1.nip.io"]:
        status, _, answer = guarded.http("GET", "/api/canvases", headers={"Host": host})
        assert (status, code(answer)) == (403, "bad_host"), host
    assert snapshot(guarded) == before


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_with_a_token_nothing_works_without_it_and_it_is_never_logged(tmp_path):
    token = "tok-" + "s3cr3t" * 4
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    server = Server(tmp_path / "data", token=token, painters={"flat": FlatPainter()}, log_level="info")
    keep = Keep()
    for name in ("uvicorn.access", "uvicorn.error", "canvas"):
        logging.getLogger(name).addHandler(keep)
    try:
        bearer = {"Authorization": f"Bearer {token}"}
        for method, path, body in [("GET", "/api/canvases", None), ("GET", "/", None),
                                   ("GET", "/api/canvases/default/tiles/0/0/0.png", None),
                                   ("GET", "/api/canvases/default/export.png?x=0&y=0&w=8&h=8", None),
                                   ("POST", "/api/canvases", {"name": "x"}),
                                   ("POST", "/api/canvases/default/upload", png(np.zeros((8, 8, 3), np.uint8))),
                                   ("DELETE", "/api/canvases/default", None)]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "boundless_token=wrong"}):
                status, _, answer = server.http(method, path, body, headers)
                assert (status, code(answer)) == (401, "unauthorized"), (method, path, headers)
        for query in ("", "?token=wrong", "?token="):
            with pytest.raises(InvalidStatus) as refused:
                server.socket("default" + query)
            assert refused.value.response.status_code == 403
        # With it, by header, query or cookie: all works, and the URL's token is logged as ***.
        assert server.http("GET", f"/api/canvases?token={token}")[0] == 200
        assert server.http("GET", "/api/canvases/nowhere/export.png?token=" + token)[0] == 404
        assert server.http("POST", "/api/canvases/default/upload", b"junk", bearer)[0] == 400
        client = Client(connect(f"ws://127.0.0.1:{server.port}/ws/default?token={token}").__enter__())
        assert client.ask({"type": "ping"})["type"] == "ok"
        client.send("not json")
        client.close()
        with pytest.raises(InvalidStatus):
            server.socket(f"default?token={token}", origin="http://evil.example")
        time.sleep(0.2)
    finally:
        server.stop()
        for name in ("uvicorn.access", "uvicorn.error", "canvas"):
            logging.getLogger(name).removeHandler(keep)
            logging.getLogger(name).setLevel(logging.WARNING)
    text = "\n".join(lines)
    assert "token=***" in text, text[:2000]  # the lines were logged, with the token hidden
    assert token not in text and "s3cr3t" not in text


def test_the_serve_command_never_prints_the_token(tmp_path):
    token = "cli-" + "hunter2" * 4
    port = free_port()
    command = [sys.executable, "-m", "canvas", "serve", "--data", str(tmp_path / "data"), "--port", str(port),
               "--token", token, "--painter", "patchmatch"]
    server = ChildServer(tmp_path / "data", command=command, port=port, stderr=-2)  # stderr into stdout
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.http("GET", "/api/canvases")[0] == 401:
                    break
            except OSError:
                assert time.monotonic() < deadline, "boundless serve did not start"
                time.sleep(0.1)
        assert server.http("GET", f"/api/canvases?token={token}")[0] == 200
        assert server.http("GET", f"/api/canvases/none/export.png?token={token}")[0] == 404
        client = Client(connect(f"ws://127.0.0.1:{port}/ws/default?token={token}").__enter__())
        client.close()
        with pytest.raises(InvalidStatus):
            server.socket("default?token=wrong")
    finally:
        server.process.terminate()
        output = server.process.communicate(timeout=20)[0]
    assert "Boundless: open" in output and token not in output and "hunter2" not in output, output
