"""The websocket protocol against a real server: every command, bad messages answered
with typed errors on a connection that stays usable, jobs and what every viewer sees."""

from __future__ import annotations

import json

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from canvas.painters import PAINTERS, load_painters
from pictures import PalettePainter, photo
from serving import FillLikePainter, Server, TintPainter, decode, png

HEAD = {"type": "subscribe", "level": 0, "x": -1024, "y": -1024, "w": 3072, "h": 3072}


@pytest.fixture
def painted(server):
    """The server with a 512 px photo at (0, 0) on the default canvas."""
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 512)))[0] == 201
    return server


def pixels(server, x=-600, y=-600, w=1700, h=1700):
    status, _, body = server.http("GET", f"/api/canvases/default/export.png?x={x}&y={y}&w={w}&h={h}")
    assert status == 200
    return decode(body)


def test_welcome_says_what_a_client_needs(painted):
    client = painted.socket()
    welcome = client.welcome
    assert welcome["version"] == 3 and welcome["canvas"] == "default" and welcome["head"] == 1
    assert welcome["bounds"] == {"x": 0, "y": 0, "w": 512, "h": 512}
    assert welcome["painters"] == ["tint"] and welcome["limits"]["frame_side"] == 4096
    assert welcome["painter_options"] == {"tint": {}} and welcome["painter_windows"] == {"tint": 512}
    # A painter that does not say which settings it uses is shown all of them.
    assert welcome["painter_info"] == {"tint": {"label": "tint", "uses": ["prompt", "negative_prompt", "steps", "guidance", "strength"],
                                                "defaults": {"steps": 25, "guidance": 7.0, "strength": 1.0}}}
    assert welcome["models"] == [] and welcome["loras"] == [] and welcome["families"] == {}  # no --models
    assert client.ask({"type": "ping"})["type"] == "ok"
    client.close()


BAD = [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_message"),
    ('{"no": "type"}', "missing_field"),
    ('{"type": "explode"}', "unknown_type"),
    ('{"type": "outpaint", "y": 0, "w": 512, "h": 512}', "missing_field"),
    ('{"type": "outpaint", "x": 0, "y": 0, "w": 100000, "h": 512}', "out_of_range"),
    ('{"type": "outpaint", "x": 0, "y": 0, "w": 4096, "h": 4096, "level": 99}', "out_of_range"),
    ('{"type": "outpaint", "x": 1e300, "y": 0, "w": 512, "h": 512}', "bad_field"),
    ('{"type": "expand", "down": 1000000000}', "out_of_range"),
    ('{"type": "expand"}', "bad_params"),
    ('{"type": "expand", "down": 512, "params": {"window": 700}}', "bad_params"),
    ('{"type": "expand", "down": 512, "params": {"candidates": 9}}', "out_of_range"),
    ('{"type": "expand", "down": 512, "params": {"guidance": 1' + "0" * 400 + '}}', "out_of_range"),  # no float holds it
    ('{"type": "expand", "down": 512, "params": {"sneaky": 1}}', "bad_field"),
    ('{"type": "expand", "down": 512, "params": {"painter": "nope"}}', "bad_params"),
    ('{"type": "expand", "down": 512, "params": {"painter": 7}}', "bad_field"),
    ('{"type": "expand", "down": 512, "params": {"patch_size": 3}}', "bad_field"),  # not an option of tint
    ('{"type": "expand", "down": 512, "params": {"prompt": "' + "p" * 3000 + '"}}', "out_of_range"),
    ('{"type": "subscribe", "x": 0, "y": 0, "w": 100000, "h": 10}', "out_of_range"),
    ('{"type": "inpaint", "x": 0, "y": 0, "w": 8, "h": 8}', "bad_mask"),
    ('{"type": "cancel", "job": "j999"}', "no_job"),
    ('{"type": "accept", "job": "j999", "candidate": 0}', "no_job"),
    ('{"type": "ping", "id": {"an": "object"}}', "bad_field"),
    ('{"type": "ping", "pad": "' + "x" * 70000 + '"}', "too_large"),
]


def test_bad_messages_get_typed_errors_and_the_connection_lives_on(painted):
    client = painted.socket()
    for text, code in BAD:
        client.send(text)
        answer = client.next("error")
        assert answer["code"] == code, (text[:80], answer)
        assert client.ask({"type": "ping"})["type"] == "ok"
    for frame, code in [(b"\x00\x00", "bad_frame"), (b"\x00\x00\x00\x50{bad json", "bad_frame"),
                        (b"\x00\x00\x00\x03abc", "bad_json")]:
        client.send(frame)
        assert client.next("error")["code"] == code
    client.send_binary({"type": "inpaint", "x": 0, "y": 0, "w": 8, "h": 8}, b"\x01" * 10)
    assert client.next("error")["code"] == "bad_mask"
    client.send_binary({"type": "ping"}, b"\x00" * (17 * 1024 * 1024))  # over the frame limit
    assert client.next("error")["code"] == "too_large"
    assert client.ask({"type": "ping"})["type"] == "ok"
    client.close()


def test_a_missing_canvas_is_an_error_then_a_close(server):
    with connect(f"ws://127.0.0.1:{server.port}/ws/nowhere") as ws:
        assert json.loads(ws.recv(timeout=10))["code"] == "not_found"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4404


def test_expand_events_arrive_in_order_and_tiles_reach_a_second_client(painted):
    author, viewer = painted.socket(), painted.socket()
    assert viewer.ask(HEAD)["rect"] == {"x": -1024, "y": -1024, "w": 3072, "h": 3072}
    before = pixels(painted)
    answer = author.ask({"type": "expand", "right": 256, "params": {"seed": 3}})
    job = answer["job"]
    done = viewer.next("job.done", job=job)
    assert done["status"] == "done" and done["windows"] >= 1
    kinds = [m["type"] for m in viewer.seen if m.get("job") == job]
    assert kinds[0] == "job.queued" and kinds[1] == "job.started"
    assert kinds.index("job.progress") < kinds.index("window.committed") < kinds.index("job.done")
    assert any(m["type"] == "preview" and len(m["payload"]) == m["w"] * m["h"] * 3 for m in viewer.seen)
    history = viewer.next("history.changed")
    assert history["head"] == done["rev"] and history["revisions"][-1]["params"]["seed"] == 3
    invalidated = next(m for m in viewer.seen if m["type"] == "tiles.invalidated")
    # each change's pushed tiles come in one `tiles` frame, their pixels one after another
    frames = [m for m in viewer.seen if m["type"] == "tiles"]
    assert invalidated["pushed"] >= 1 and len(frames[0]["tiles"]) == invalidated["pushed"]
    after = pixels(painted)
    assert not np.array_equal(before, after)
    last = frames[-1]
    assert last["level"] == 0 and len(last["payload"]) == len(last["tiles"]) * 256 * 256 * 4
    for index, (tx, ty, rev) in enumerate(last["tiles"]):
        rgba = np.frombuffer(last["payload"], np.uint8).reshape(-1, 256, 256, 4)[index]
        status, _, body = painted.http("GET", f"/api/canvases/default/tiles/0/{tx}/{ty}.png")
        assert np.array_equal(decode(body) if status == 200 else np.zeros_like(rgba), rgba)
    # the author gets the events too, with its answer
    assert any(m["type"] == "job.done" for m in author.seen) or author.next("job.done", job=job)
    author.close()
    viewer.close()


def test_candidates_are_staged_until_accepted(painted):
    client, other = painted.socket(), painted.socket()
    job = client.ask({"type": "outpaint", "x": 512, "y": 0, "w": 128, "h": 512, "params": {"candidates": 2}})["job"]
    staged = other.next("candidates", job=job)
    frames = [other.next("candidate", job=job) for _ in range(staged["count"])]
    assert staged["count"] == 2 and [f["index"] for f in frames] == [0, 1]
    r = staged["rect"]
    assert len(frames[1]["payload"]) == r["w"] * r["h"] * 4
    assert client.ask({"type": "undo"})["code"] == "job_running"  # the job holds the canvas
    assert client.ask({"type": "accept", "job": job, "candidate": 7})["code"] == "out_of_range"
    assert other.ask({"type": "accept", "job": job, "candidate": 1})["type"] == "ok"
    assert client.next("job.done", job=job)["status"] == "done"
    candidate = np.frombuffer(frames[1]["payload"], np.uint8).reshape(r["h"], r["w"], 4)
    exported = pixels(painted, 512, 0, 128, 512)
    window = candidate[0 - r["y"] : 512 - r["y"], 512 - r["x"] : 640 - r["x"]]
    assert np.array_equal(exported, window)
    client.close()
    other.close()


def test_discard_leaves_the_canvas_as_it_was(painted):
    client = painted.socket()
    before = pixels(painted)
    job = client.ask({"type": "expand", "down": 128, "params": {"candidates": 3}})["job"]
    client.next("candidates", job=job)
    assert client.ask({"type": "discard", "job": job})["type"] == "ok"
    assert client.next("job.done", job=job)["status"] == "cancelled"
    assert np.array_equal(pixels(painted), before)
    assert client.ask({"type": "discard", "job": job})["code"] == "no_job"
    client.close()


def test_cancel_a_running_and_a_queued_job(painted):
    painted.painter.delay = 0.3
    client = painted.socket()
    first = client.ask({"type": "expand", "left": 1024})["job"]
    second = client.ask({"type": "expand", "up": 512})["job"]
    client.next("job.progress", job=first)
    assert client.ask({"type": "cancel", "job": second})["type"] == "ok"
    assert client.next("job.done", job=second)["status"] == "cancelled"
    assert client.ask({"type": "cancel", "job": first})["type"] == "ok"
    assert client.next("job.done", job=first)["status"] == "cancelled"
    assert not any(m["type"] == "job.started" and m["job"] == second for m in client.seen)
    client.close()


def test_undo_and_redo_restore_pixels_and_tell_everyone(painted):
    client, viewer = painted.socket(), painted.socket()
    viewer.ask(HEAD)
    before = pixels(painted)
    job = client.ask({"type": "expand", "left": 128, "down": 128})["job"]
    client.next("job.done", job=job)
    after = pixels(painted)
    assert client.ask({"type": "undo"})["head"] == 1
    assert np.array_equal(pixels(painted), before)
    assert viewer.next("history.changed", head=1)
    assert viewer.next("tiles.invalidated")["pushed"] >= 1
    assert client.ask({"type": "redo"})["head"] == 2
    assert np.array_equal(pixels(painted), after)
    assert client.ask({"type": "redo"})["rev"] is None
    history = client.ask({"type": "history"})
    assert [r["kind"] for r in history["revisions"]] == ["import", "expand"] and history["head"] == 2
    client.close()
    viewer.close()


def test_inpaint_takes_its_mask_from_a_binary_frame(painted):
    client = painted.socket()
    before = pixels(painted, 0, 0, 512, 512)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 1
    client.send_binary({"type": "inpaint", "id": "in1", "x": 200, "y": 200, "w": 64, "h": 64}, mask.tobytes())
    answer = client.next("ok", id="in1")
    assert client.next("job.done", job=answer["job"])["status"] == "done"
    after = pixels(painted, 0, 0, 512, 512)
    changed = np.any(after != before, axis=2)
    assert changed[216:248, 216:248].any() and not changed[:150].any()
    client.close()


def test_a_client_leaving_does_not_take_its_job_or_the_server_down(painted):
    painted.painter.delay = 0.1
    leaving, staying = painted.socket(), painted.socket()
    job = leaving.ask({"type": "expand", "right": 256})["job"]
    leaving.next("job.started", job=job)
    leaving.close()
    assert staying.next("job.done", job=job)["status"] == "done"
    assert staying.ask({"type": "ping"})["type"] == "ok"
    staying.close()


@pytest.fixture
def two_painters(tmp_path, monkeypatch):
    """A server offering a test painter (registered in PAINTERS, first: the default) and PatchMatch."""
    monkeypatch.setitem(PAINTERS, "tint", TintPainter)
    painters = load_painters(["tint", "patchmatch", "tint"])
    patchmatch, running_options = painters["patchmatch"], []

    def paint(image, mask, request, *args, **kwargs):  # what the painter was asked
        running_options.append(request.options)
        return type(patchmatch).paint(patchmatch, image, mask, request, *args, **kwargs)

    monkeypatch.setattr(patchmatch, "paint", paint, raising=False)
    running = Server(tmp_path / "data", painters=painters)
    running.patchmatch_options = running_options
    assert running.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 256)))[0] == 201
    yield running
    running.stop()


def test_a_job_names_its_painter_among_those_served(two_painters):
    client = two_painters.socket()
    assert client.welcome["painters"] == ["tint", "patchmatch"]
    assert client.welcome["painter_options"] == {
        "tint": {}, "patchmatch": {"patch_size": {"kind": "number", "label": "Patch size", "min": 1, "max": 32, "default": 3,
                                                  "integer": True}},
    }

    def painted_by(params):
        answer = client.ask({"type": "expand", "right": 64, "params": params})
        assert answer["type"] == "ok", answer
        assert client.next("job.done", job=answer["job"])["status"] == "done"
        return client.ask({"type": "history"})["revisions"][-1]["params"]

    assert painted_by({})["painter"] == "tint"  # the first painter served
    assert painted_by({"painter": "tint"})["painter"] == "tint"
    assert painted_by({"painter": "patchmatch", "patch_size": 5})["painter"].startswith("patchmatch")
    assert two_painters.patchmatch_options and all(o == {"patch_size": 5} for o in two_painters.patchmatch_options)

    for params, code in [({"painter": "nope"}, "bad_params"), ({"painter": "echo"}, "bad_params"),
                         ({"painter": "patchmatch", "patch_size": 0}, "out_of_range"),
                         ({"painter": "patchmatch", "patch_size": 2.5}, "bad_field"),
                         ({"painter": "tint", "patch_size": 3}, "bad_field")]:
        answer = client.ask({"type": "expand", "right": 64, "params": params})
        assert answer["type"] == "error" and answer["code"] == code, (params, answer)
        assert client.ask({"type": "ping"})["type"] == "ok"
    client.close()


def test_a_choice_option_is_offered_checked_and_reaches_the_painter(tmp_path):
    """A painter's `Choice` (the diffusion painter's scheduler and masked content): listed
    in `welcome`, refused with a typed error unless spelled as listed, given to the job;
    and a job that gives no window gets the painter's native one."""
    server = Server(tmp_path / "data", painters={"palette": PalettePainter(), "tint": TintPainter()})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 256)))[0] == 201
        client = server.socket()
        assert client.welcome["painter_options"]["palette"] == {
            "palette": {"kind": "choice", "label": "Palette", "choices": ["warm", "cool", "grey"], "default": "warm"}}
        assert client.welcome["painter_windows"] == {"palette": 640, "tint": 512}
        for params, code in [({"palette": "hot"}, "bad_choice"), ({"palette": "Cool"}, "bad_choice"),
                             ({"palette": ""}, "bad_choice"), ({"palette": 1}, "bad_field"),
                             ({"palette": ["cool"]}, "bad_field"), ({"palette": "x" * 100}, "out_of_range"),
                             ({"painter": "tint", "palette": "cool"}, "bad_field")]:
            answer = client.ask({"type": "expand", "right": 64, "params": params})
            assert answer["type"] == "error" and answer["code"] == code, (params, answer)
            assert client.ask({"type": "ping"})["type"] == "ok"
        assert client.ask({"type": "history"})["head"] == 1  # nothing ran

        def expand(params):
            job = client.ask({"type": "expand", "right": 64, "params": {"colour_match": False, **params}})["job"]
            started = client.next("job.started", job=job, timeout=30)
            assert client.next("job.done", job=job)["status"] == "done"
            return started["windows"][0], client.ask({"type": "history"})["revisions"][-1]["params"]

        window, params = expand({"palette": "cool"})
        assert params["window"] == 640 and params["palette"] == "cool"  # the largest window the planner may use
        assert tuple(pixels(server, 300, 100, 1, 1)[0, 0, :3]) == PalettePainter.COLOURS["cool"]
        window, params = expand({"window": 512})
        assert params["window"] == 512 and window["w"] <= 512 and params["palette"] == "warm"  # the painter's default
        assert tuple(pixels(server, 360, 100, 1, 1)[0, 0, :3]) == PalettePainter.COLOURS["warm"]
        client.close()
    finally:
        server.stop()


def test_masked_content_original_starts_from_the_canvas_unless_the_job_gives_a_prefill():
    """The diffusion painter's masked content "original" is the job's prefill "original",
    whether the job names it or the server was started with it (`serve --masked-content`)."""
    from dataclasses import replace

    from canvas.painters.diffusion.settings import CHOICES
    from canvas.server import protocol

    served = {"diffusion": dict(CHOICES)}
    original = {"diffusion": {**CHOICES, "masked_content": replace(CHOICES["masked_content"], default="original")}}

    def prefill(painters, params):
        return protocol.job_settings({"params": params}, painters, windows={})[1].prefill

    assert prefill(served, {}) == "edge" and prefill(served, {"masked_content": "latent noise"}) == "edge"
    assert prefill(served, {"masked_content": "original"}) == "original"
    assert prefill(original, {}) == "original" and prefill(original, {"masked_content": "fill"}) == "edge"
    assert prefill(original, {"prefill": "mean"}) == "mean"  # what the job says wins


def test_welcome_tells_each_painters_settings_and_a_job_gets_its_painters_defaults(tmp_path):
    fill = FillLikePainter()
    server = Server(tmp_path / "data", painters={"fill": fill, **load_painters(["patchmatch"]), "tint": TintPainter()})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 256)))[0] == 201
        client = server.socket()
        assert client.welcome["painter_info"] == {
            "fill": {"label": "FLUX.1 Fill · tiny", "uses": ["prompt", "steps", "guidance"], "defaults": {"steps": 50, "guidance": 30.0}},
            "patchmatch": {"label": "PatchMatch", "uses": [], "defaults": {}},
            "tint": {"label": "tint", "uses": ["prompt", "negative_prompt", "steps", "guidance", "strength"],
                     "defaults": {"steps": 25, "guidance": 7.0, "strength": 1.0}},
        }

        def expand(params):
            job = client.ask({"type": "expand", "right": 64, "params": params})["job"]
            assert client.next("job.done", job=job)["status"] == "done"
            return client.ask({"type": "history"})["revisions"][-1]["params"]

        expand({"prompt": "sky"})  # what the job leaves out comes from its painter, not from PaintRequest
        assert (fill.requests[-1].steps, fill.requests[-1].guidance, fill.requests[-1].strength) == (50, 30.0, 1.0)
        expand({"prompt": "sky", "steps": 12})
        assert (fill.requests[-1].steps, fill.requests[-1].guidance) == (12, 30.0)
        recorded = expand({"painter": "tint", "prompt": "sky"})
        assert (recorded["steps"], recorded["guidance"], recorded["strength"]) == (25, 7.0, 1.0)
        client.close()
    finally:
        server.stop()


def test_patchmatch_on_an_empty_canvas_fails_in_one_line_and_changes_nothing(tmp_path):
    server = Server(tmp_path / "data", painters=load_painters(["patchmatch"]))
    try:
        client = server.socket()
        answer = client.ask({"type": "outpaint", "x": 0, "y": 0, "w": 512, "h": 512, "params": {"prompt": "a cat"}})
        assert answer["type"] == "ok", answer
        failed = client.next("job.failed", job=answer["job"])
        assert failed["code"] == "bad_job" and failed["reason"].startswith("PatchMatch copies from known pixels")
        assert "\n" not in failed["reason"] and "diffusion" in failed["reason"]
        assert client.ask({"type": "history"})["revisions"] == []
        assert not any(m["type"] == "tiles.invalidated" for m in client.seen)
        assert server.http("GET", "/api/canvases/default/export.png")[0] == 404  # still empty
        client.close()
    finally:
        server.stop()
