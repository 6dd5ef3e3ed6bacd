"""The server's HTTP side against a real uvicorn: canvases, tiles and ETags, upload,
export, origin and token checks, and a restart on the same data folder."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import urllib.error
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from websockets.exceptions import InvalidStatus

from pictures import photo
from serving import Server, decode, png


def error_code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


def test_canvases_are_created_listed_renamed_and_deleted(server):
    status, _, body = server.http("GET", "/api/canvases")
    assert status == 200 and [c["name"] for c in json.loads(body)["canvases"]] == ["default"]
    assert server.http("POST", "/api/canvases", {"name": "garden"})[0] == 201
    assert server.http("POST", "/api/canvases", {"name": "garden"})[0] == 409
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 65, 7):
        status, _, body = server.http("POST", "/api/canvases", {"name": bad})
        assert (status, error_code(body)) == (400, "bad_name")
    assert server.http("PATCH", "/api/canvases/garden", {"name": "orchard"})[0] == 200
    names = [c["name"] for c in json.loads(server.http("GET", "/api/canvases")[2])["canvases"]]
    assert names == ["default", "orchard"]
    assert server.http("DELETE", "/api/canvases/orchard")[0] == 204
    assert server.http("DELETE", "/api/canvases/orchard")[0] == 404
    assert server.http("DELETE", "/api/canvases/default")[0] == 409
    assert not list(server.data.glob("orchard*"))


def test_upload_then_export_and_tiles_with_etags(server):
    image = photo("astronaut", 300)
    status, _, body = server.http("POST", "/api/canvases/default/upload?x=-20&y=10&name=astro.png", png(image))
    assert status == 201, body
    assert json.loads(body)["w"] == 300

    status, headers, body = server.http("GET", "/api/canvases/default/export.png?x=-20&y=10&w=300&h=300")
    assert status == 200
    exported = Image.open(io.BytesIO(body))
    assert "astro.png" in exported.info["parameters"]
    assert np.array_equal(np.asarray(exported.convert("RGBA"))[..., :3], image)

    status, headers, body = server.http("GET", "/api/canvases/default/tiles/0/-1/0.png")
    assert status == 200 and headers["content-type"] == "image/png"
    assert np.array_equal(decode(body)[10:256, 236:256, :3], image[:246, :20])
    etag = headers["etag"]
    status, headers, _ = server.http("GET", "/api/canvases/default/tiles/0/-1/0.png", headers={"If-None-Match": etag})
    assert status == 304 and headers["etag"] == etag
    status, headers, body = server.http("GET", "/api/canvases/default/tiles/0/40/40.png")
    assert status == 204 and not body and headers["etag"]
    assert server.http("GET", "/api/canvases/default/tiles/0/x/0.png")[0] == 400
    assert server.http("GET", "/api/canvases/nope/tiles/0/0/0.png")[0] == 404
    assert server.http("GET", "/api/canvases/default/export.png?x=0&y=0&w=100000&h=100000")[0] == 413


def test_uploads_that_are_not_images_or_are_bombs_are_refused(server):
    status, _, body = server.http("POST", "/api/canvases/default/upload", b"not an image")
    assert (status, error_code(body)) == (400, "bad_image")
    assert error_code(server.http("POST", "/api/canvases/default/upload", b"")[2]) == "bad_image"
    status, _, body = server.http("POST", "/api/canvases/default/upload", bomb_png(60000, 60000))
    assert (status, error_code(body)) == (413, "too_large")
    # Refused from its Content-Length, before the body is read: the server may answer and
    # close while the client is still sending, which the client sees as a reset.
    try:
        status = server.http("POST", "/api/canvases/default/upload", b"x" * (33 * 1024 * 1024))[0]
    except urllib.error.URLError as exc:
        assert isinstance(exc.reason, (ConnectionResetError, BrokenPipeError))
    else:
        assert status == 413


def bomb_png(w: int, h: int) -> bytes:
    """A tiny file whose header claims a huge image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def test_foreign_origins_are_refused(server):
    status, _, body = server.http("POST", "/api/canvases", {"name": "x"}, {"Origin": "http://evil.example"})
    assert (status, error_code(body)) == (403, "bad_origin")
    assert server.http("POST", "/api/canvases", {"name": "x"}, {"Origin": server.origin})[0] == 201
    assert server.http("GET", "/api/canvases", headers={"Origin": "http://evil.example"})[0] == 200
    with pytest.raises(InvalidStatus) as refused:
        server.socket(origin="http://evil.example")
    assert refused.value.response.status_code == 403
    server.socket(origin=server.origin).close()
    # DNS rebinding: a foreign host name that resolves to us is not served.
    assert server.http("GET", "/api/canvases", headers={"Host": "evil.example"})[0] == 403


def test_the_page_names_the_default_canvas_and_is_revalidated_by_etag(server, tmp_path):
    for path in ("/", "/index.html"):
        status, headers, body = server.http("GET", path)
        assert status == 200 and headers["content-type"].startswith("text/html") and headers["cache-control"] == "no-cache"
        assert b'<meta name="boundless-canvas" content="default">' in body
        assert server.http("GET", path, headers={"If-None-Match": headers["etag"]})[0] == 304
    assert server.http("GET", "/app.js")[0] == 200 and server.http("GET", "/nothing.js")[0] == 404
    for outside in ("/..%2Fpyproject.toml", "/%2e%2e/pyproject.toml", "/static/../pyproject.toml", "/.git/config"):
        assert server.http("GET", outside)[0] == 404, outside
    # --canvas FILE: the default canvas is named after the file's stem, and the page says so.
    served = Server(tmp_path / "other", canvas=tmp_path / "portrait.canvas")
    try:
        status, headers, body = served.http("GET", "/")
        assert status == 200 and b'<meta name="boundless-canvas" content="portrait">' in body
        assert server.http("GET", "/")[1]["etag"] != headers["etag"]
    finally:
        served.stop()


def test_client_files_are_read_again_once_edited_and_nothing_outside_is_served(tmp_path):
    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    from canvas.server.client_files import MARK, ClientFiles

    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "index.html").write_text(f"<head>{MARK}</head><p>one")
    (folder / "app.js").write_text("export const one = 1;")
    (tmp_path / "secret.txt").write_text("not for the browser")
    (folder / ".hidden").write_text("nor this")
    files = ClientFiles(folder, "garden")

    def get(path: str, headers: list | None = None):
        scope = {"type": "http", "method": "GET", "path": "/" + path, "headers": headers or [], "path_params": {"path": path}}
        # In a thread of its own: a worker that ran the browser tests first holds Playwright's
        # event loop running in this thread until the session ends.
        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, files.get(Request(scope))).result()

    first = get("")
    assert first.body == b'<head><meta name="boundless-canvas" content="garden"></head><p>one' and get("index.html").body == first.body
    assert first.media_type == "text/html; charset=utf-8" and get("app.js").media_type == "text/javascript; charset=utf-8"
    assert get("app.js", [(b"if-none-match", get("app.js").headers["etag"].encode())]).status_code == 304
    (folder / "index.html").write_text(f"<head>{MARK}</head><p>two, longer")
    assert get("").body.endswith(b"<p>two, longer") and get("").headers["etag"] != first.headers["etag"]
    for outside in ("../secret.txt", "..", ".hidden", "missing.js", "app.js/x", "a//../../secret.txt"):
        with pytest.raises(HTTPException) as refused:
            get(outside)
        assert refused.value.status_code == 404, outside
    (folder / "index.html").write_text("<head></head>")  # the mark gone: said at once, not a page without its canvas
    with pytest.raises(RuntimeError, match="boundless-canvas"):
        get("")


def test_a_token_is_needed_for_everything_when_set(tmp_path):
    running = Server(tmp_path / "data", token="s3cret")
    try:
        assert running.http("GET", "/api/canvases")[0] == 401
        assert running.http("GET", "/api/canvases", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert running.http("GET", "/api/canvases", headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert running.http("GET", "/api/canvases?token=s3cret")[0] == 200
        assert running.http("GET", "/api/canvases", headers={"Cookie": "boundless_token=s3cret"})[0] == 200
        with pytest.raises(InvalidStatus):
            running.socket()
        from serving import Client
        from websockets.sync.client import connect

        Client(connect(f"ws://127.0.0.1:{running.port}/ws/default?token=s3cret").__enter__()).close()
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
        connection.request("GET", "/?token=s3cret")
        response = connection.getresponse()
        assert response.status == 303 and response.getheader("Location") == "/"
        assert "boundless_token=s3cret" in response.getheader("Set-Cookie")
        assert "httponly" in response.getheader("Set-Cookie").lower()
    finally:
        running.stop()


def test_a_restarted_server_shows_the_persisted_canvas(tmp_path):
    image = photo("coffee", 256)
    first = Server(tmp_path / "data")
    try:
        assert first.http("POST", "/api/canvases", {"name": "kept"})[0] == 201
        assert first.http("POST", "/api/canvases/kept/upload?x=0&y=0", png(image))[0] == 201
        _, headers, before = first.http("GET", "/api/canvases/kept/tiles/0/0/0.png")
    finally:
        first.stop()
    second = Server(tmp_path / "data")
    try:
        status, again, after = second.http("GET", "/api/canvases/kept/tiles/0/0/0.png")
        assert status == 200 and again["etag"] == headers["etag"]
        assert np.array_equal(decode(after), decode(before))
        client = second.socket("kept")
        assert client.welcome["head"] == 1 and client.welcome["bounds"] == {"x": 0, "y": 0, "w": 256, "h": 256}
        client.close()
    finally:
        second.stop()
