"""Hypothesis against a real server: malformed and extreme websocket messages of every
command type, raw frames, and HTTP requests on every route. Each is answered once, with
`ok` or a typed error (never `internal`, never a 500), and the server stays up.

One server for the module; about three thousand messages in all.
"""

from __future__ import annotations

import http.client
import json
import math
import struct
import time
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvas.server import limits, protocol
from serving import FlatPainter, Server, png

# Every code docs/protocol.md lists; `internal` (a bug) is not among them.
CODES = {
    "bad_json", "bad_message", "bad_frame", "missing_field", "unknown_type", "bad_field", "out_of_range",
    "bad_params", "bad_choice", "bad_mask", "bad_name", "bad_image", "too_large", "not_found", "no_job", "no_candidates",
    "job_running", "queue_full", "exists", "default_canvas", "too_many", "empty", "bad_origin", "bad_host",
    "unauthorized", "disk_full", "read_only", "io_error", "busy", "method_not_allowed", "bad_points", "no_segmenter",
    "no_library", "unknown_model", "unknown_lora", "bad_lora",
}
FIELDS = ["x", "y", "w", "h", "level", "left", "right", "up", "down", "job", "candidate", "params", "id", "rect",
          "zoom", "steps", "factor", "prompt", "name", "canvas", "points", "labels", "box"]
PARAM_KEYS = sorted(protocol.PARAMS) + ["patch_size", "schedule", "prompts", "sneaky", ""]
EXTREME_INTS = [0, 1, -1, 7, 63, 64, 255, 256, 511, 512, 1023, 1024, 4096, 8192, 2**30, 2**31, -2**31, 2**53,
                2**63, -2**63, 2**64, 10**30, -10**30, 10**400]
EXTREME_FLOATS = [0.5, -0.0, 1e-300, 1e300, -1e300, math.inf, -math.inf, math.nan]
SETTINGS = settings(max_examples=1200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(EXTREME_INTS), st.integers(-600, 1200),
    st.sampled_from(EXTREME_FLOATS), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["", "j1", "j999", "\ud800", "\x00", "../..", "ａ", "🦄" * 500, "x" * 2100]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)
params = st.dictionaries(st.sampled_from(PARAM_KEYS), values, max_size=5)
messages = st.builds(
    lambda kind, fields, extra: {**({"type": kind} if kind is not None else {}), **fields, **extra},
    st.one_of(st.sampled_from(protocol.COMMANDS), st.sampled_from([None, "", "explode", 7, ["ping"]])),
    st.dictionaries(st.sampled_from(FIELDS), st.one_of(values, params), max_size=6),
    st.dictionaries(st.text(max_size=5), scalars, max_size=2),
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        # The fuzz talks faster than the pace a flooding client is held to (tested apart).
        patch.setattr(limits, "COMMANDS_PER_SECOND", 100_000)
        patch.setattr(limits, "COMMAND_BURST", 100_000)
        # No keepalive pings either way: both ends draw a ping's payload from the global
        # `random`, on a thread of their own, and hypothesis, seeing its state change while
        # it draws an example, would blame the strategy (a deprecation warning today).
        server = Server(tmp_path_factory.mktemp("fuzz") / "data", painters={"flat": FlatPainter()}, pings=False)
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0",
                           png(np.full((256, 256, 3), 77, np.uint8)))[0] == 201
        server.client = server.socket(ping_interval=None)
        server.counter = 0
        yield server
        server.client.close()
        server.stop()


def answer_to(server: Server, send) -> list[dict]:
    """Send one frame, then a ping; the answers to what was sent, up to the ping's `ok`."""
    client = server.client
    server.counter += 1
    marker = f"fence-{server.counter}"
    send(client)
    client.send({"type": "ping", "id": marker})
    answers = []
    while True:
        message = client.recv(timeout=30)
        if message["type"] == "ok" and message.get("id") == marker:
            return answers
        if message["type"] in ("ok", "error") and not str(message.get("id")).startswith("cancel-"):
            answers.append(message)


def check_answers(server: Server, answers: list[dict], sent: object) -> None:
    assert len(answers) == 1, (sent, answers)
    answer = answers[0]
    if answer["type"] == "error":
        assert answer["code"] in CODES, (sent, answer)
    elif "job" in answer and answer.get("command") in ("outpaint", "expand", "inpaint"):
        server.client.send({"type": "cancel", "job": answer["job"], "id": f"cancel-{answer['job']}"})  # keep the painter free


@SETTINGS
@given(message=messages)
def test_every_command_with_fuzzed_fields_gets_one_typed_answer(fuzzed, message):
    text = json.dumps(message)  # NaN and Infinity go out as JSON's common extension
    if len(text) > limits.MAX_TEXT_FRAME:
        return
    check_answers(fuzzed, answer_to(fuzzed, lambda c: c.send(text)), message)


@settings(SETTINGS, max_examples=600)
@given(header=messages, payload=st.binary(max_size=300), declared=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       cut=st.integers(0, 8))
def test_binary_frames_with_fuzzed_headers_get_one_typed_answer(fuzzed, header, payload, declared, cut):
    head = json.dumps(header).encode()[: None if cut == 0 else -cut]
    size = len(head) if declared is None else declared
    frame = struct.pack(">I", size) + head + payload
    check_answers(fuzzed, answer_to(fuzzed, lambda c: c.send(frame)), (header, declared, cut))


@settings(SETTINGS, max_examples=300)
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.integers(1, 20000).map(lambda n: "[" * n), st.integers(1, 5000).map(lambda n: '{"a":' * n)))
def test_raw_text_frames_get_one_typed_answer(fuzzed, text):
    check_answers(fuzzed, answer_to(fuzzed, lambda c: c.send(text)), text[:100])


# -- HTTP ----------------------------------------------------------------------------------

segments = st.one_of(st.text(max_size=20), st.sampled_from(["default", "..", "%2e%2e", "../..", "a/b", "CON", "ａ",
                                                            "x" * 300, "-1", "99999999999999999999", "0", "1e3"]))
numbers = st.one_of(st.sampled_from([str(v) for v in EXTREME_INTS] + ["nan", "inf", "", " 1", "1_0", "٣", "0x10"]),
                    st.integers(-300, 300).map(str), st.text(max_size=6))
queries = st.dictionaries(st.sampled_from(["x", "y", "w", "h", "level", "name", "token", "v", "junk"]), numbers, max_size=5)
bodies = st.one_of(st.none(), st.binary(max_size=200), values.map(lambda v: json.dumps(v).encode()),
                   st.sampled_from([png(np.zeros((3, 5, 3), np.uint8)), b"{" * 20000, b'{"name": "\\ud800"}',
                                    b'{"name": "fuzzed"}', b'{"name": "fuzzed2"}']))


def request_paths(name: str, level: str, tx: str, ty: str, fmt: str) -> list[str]:
    canvas = f"/api/canvases/{quote(name, safe='')}"
    return ["/api/canvases", canvas, f"{canvas}/tiles/{quote(level)}/{quote(tx)}/{quote(ty)}.{quote(fmt)}",
            f"{canvas}/upload", f"{canvas}/export.png", "/", f"/{quote(name, safe='')}", "/ws/default"]


@settings(SETTINGS, max_examples=700)
@given(method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]),
       which=st.integers(0, 7), name=segments, level=numbers, tx=numbers, ty=numbers,
       fmt=st.sampled_from(["png", "webp", "jpg", "PNG", ""]), query=queries, body=bodies)
def test_http_routes_answer_fuzzed_requests_with_typed_errors(fuzzed, method, which, name, level, tx, ty, fmt, query, body):
    path = request_paths(name, level, tx, ty, fmt)[which]
    if query:
        path += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
    connection = http.client.HTTPConnection("127.0.0.1", fuzzed.port, timeout=30)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    assert response.status < 500, (method, path, response.status, data[:300])
    if response.status >= 400 and method != "HEAD":
        error = json.loads(data)["error"]
        assert error["code"] in CODES, (method, path, error)


def test_the_server_is_still_up_and_whole_after_the_fuzz(fuzzed):
    deadline = time.monotonic() + 30
    while fuzzed.state.queue.jobs():  # the cancelled jobs wind down
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client = fuzzed.socket()
    assert client.ask({"type": "ping"})["type"] == "ok"
    assert all(r["status"] in ("done", "cancelled", "failed") for r in client.ask({"type": "history"})["revisions"])
    assert fuzzed.http("GET", "/api/canvases")[0] == 200
    # The fuzz's undo commands may have taken the canvas back to empty (whether one was
    # refused while a job ran depends on timing): then, and only then, the whole-canvas
    # export is 404 `empty`. A rectangle always exports.
    status, _, body = fuzzed.http("GET", "/api/canvases/default/export.png")
    empty = client.welcome["bounds"]["w"] == 0
    assert (status, json.loads(body)["error"]["code"] if status == 404 else None) == ((404, "empty") if empty else (200, None))
    assert fuzzed.http("GET", "/api/canvases/default/export.png?x=0&y=0&w=256&h=256")[0] == 200
    client.close()
