"""Tiles over HTTP as the client loads them: WebP and PNG with the same pixels, encoded
once per revision, listed by `subscribe` so that empty tiles cost no request and painted
ones are fetched by a URL that names their revision."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from pictures import photo
from serving import decode, png

TILES = "/api/canvases/default/tiles"


def test_webp_png_and_raw_tiles_hold_the_same_exact_pixels(server):
    image = photo("astronaut", 300)
    assert server.http("POST", "/api/canvases/default/upload?x=-20&y=10", png(image))[0] == 201
    status, headers, webp = server.http("GET", f"{TILES}/0/-1/0.webp")
    assert status == 200 and headers["content-type"] == "image/webp"
    _, png_headers, png_body = server.http("GET", f"{TILES}/0/-1/0.png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(webp)).convert("RGBA")), decode(png_body))
    assert headers["etag"] != png_headers["etag"]  # one ETag per representation
    assert server.http("GET", f"{TILES}/0/-1/0.webp", headers={"If-None-Match": headers["etag"]})[0] == 304
    status, headers, raw = server.http("GET", f"{TILES}/0/-1/0.rgba")
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert np.array_equal(np.frombuffer(raw, np.uint8).reshape(256, 256, 4), decode(png_body))
    assert server.http("GET", f"{TILES}/0/-1/0.gif")[0] == 404


def test_subscribe_lists_the_painted_tiles_with_their_revisions(server):
    client = server.socket()
    empty = client.ask({"type": "subscribe", "level": 0, "x": -512, "y": -512, "w": 1024, "h": 1024})
    assert empty["tiles"] == [] and empty["canvas_id"]
    assert server.http("POST", "/api/canvases/default/upload?x=-20&y=10", png(photo("astronaut", 300)))[0] == 201
    answer = client.ask({"type": "subscribe", "level": 0, "x": -512, "y": -512, "w": 1024, "h": 1024})
    listed = {(tx, ty): rev for tx, ty, rev in answer["tiles"]}
    # the photo covers x -20..280, y 10..310: tiles -1..1 across, 0..1 down
    assert set(listed) == {(tx, ty) for tx in (-1, 0, 1) for ty in (0, 1)}
    rev = set(listed.values()).pop()
    assert rev == client.ask({"type": "history"})["head"]
    for tx in range(-2, 2):
        for ty in range(-2, 2):
            status = server.http("GET", f"{TILES}/0/{tx}/{ty}.webp")[0]
            assert status == (200 if (tx, ty) in listed else 204)
    coarse = client.ask({"type": "subscribe", "level": 2, "x": -256, "y": -256, "w": 512, "h": 512})
    assert [tile[:2] for tile in coarse["tiles"]] == [[-1, 0], [0, 0]]
    client.close()


def test_a_url_naming_the_current_revision_is_immutable_and_any_other_revalidates(server):
    client = server.socket()
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 256)))[0] == 201
    answer = client.ask({"type": "subscribe", "level": 0, "x": 0, "y": 0, "w": 256, "h": 256})
    [[_, _, rev]] = answer["tiles"]
    fixed = f"{TILES}/0/0/0.webp?v={answer['canvas_id']}-{rev}"
    assert "immutable" in server.http("GET", fixed)[1]["cache-control"]
    assert server.http("GET", f"{TILES}/0/0/0.webp")[1]["cache-control"] == "no-cache"
    assert server.http("GET", f"{TILES}/0/0/0.webp?v={answer['canvas_id']}-{rev + 1}")[1]["cache-control"] == "no-cache"
    assert server.http("GET", f"{TILES}/0/0/0.webp?v=other-{rev}")[1]["cache-control"] == "no-cache"
    client.close()


def test_a_tile_is_encoded_once_per_revision_and_again_after_a_change(server):
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 256)))[0] == 201
    first = server.http("GET", f"{TILES}/0/0/0.webp")
    again = server.http("GET", f"{TILES}/0/0/0.webp")
    assert first[2] == again[2] and first[1]["etag"] == again[1]["etag"]
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("chelsea", 256)))[0] == 201
    changed = server.http("GET", f"{TILES}/0/0/0.webp")
    assert changed[1]["etag"] != first[1]["etag"] and changed[2] != first[2]
    client = server.socket()
    assert client.ask({"type": "undo"})["type"] == "ok"
    undone = server.http("GET", f"{TILES}/0/0/0.webp")
    assert undone[1]["etag"] == first[1]["etag"] and undone[2] == first[2]
    client.close()
    assert server.state.tile_images.encoded == 2  # the undone revision came from the cache


def test_a_subscribe_can_carry_the_pixels_of_the_tiles_it_lacks(server):
    client = server.socket()
    assert server.http("POST", "/api/canvases/default/upload?x=-20&y=10", png(photo("astronaut", 300)))[0] == 201
    view = {"type": "subscribe", "level": 0, "x": -512, "y": -512, "w": 1024, "h": 1024}
    # asked for in this order; (-2, -2) is empty and is not sent, (1, 1) is asked twice
    answer = client.ask({**view, "send": [[1, 1], [-1, 0], [-2, -2], [0, 1], [1, 1]]})
    assert answer["type"] == "ok" and answer["format"] == "rgba" and answer["w"] == answer["h"] == 256
    listed = {(tx, ty): rev for tx, ty, rev in answer["tiles"]}
    assert [tuple(tile[:2]) for tile in answer["sent"]] == [(1, 1), (-1, 0), (0, 1)]
    assert all(listed[tx, ty] == rev for tx, ty, rev in answer["sent"])
    pixels = np.frombuffer(answer["payload"], np.uint8).reshape(-1, 256, 256, 4)
    assert len(pixels) == 3
    for (tx, ty, _), rgba in zip(answer["sent"], pixels):
        assert np.array_equal(rgba, np.frombuffer(server.http("GET", f"{TILES}/0/{tx}/{ty}.rgba")[2], np.uint8).reshape(256, 256, 4))
    # nothing painted among the asked: a plain JSON answer, as without `send`
    plain = client.ask({**view, "send": [[-2, -2]]})
    assert "payload" not in plain and "sent" not in plain and set(map(tuple, plain["tiles"])) == set(map(tuple, answer["tiles"]))


def test_a_bad_send_is_refused_and_changes_nothing(server):
    client = server.socket()
    view = {"type": "subscribe", "level": 0, "x": 0, "y": 0, "w": 512, "h": 512}
    for send, code in [("all", "bad_field"), ([[0]], "bad_field"), ([[0, 0.5]], "bad_field"), ([[True, 0]], "bad_field"),
                       ([[2, 0]], "out_of_range"), ([[0, -1]], "out_of_range"), ([[0, 0]] * 65, "out_of_range")]:
        answer = client.ask({**view, "send": send})
        assert answer["type"] == "error" and answer["code"] == code, (send, answer)
    assert client.ask({**view, "send": [[0, 0], [1, 1]]})["type"] == "ok"
    client.close()
