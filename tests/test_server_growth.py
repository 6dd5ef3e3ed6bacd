"""Zoom out, grow and zoom videos over the websocket, against a real server."""

from __future__ import annotations

import io

import av
import pytest

from pictures import photo
from serving import png


@pytest.fixture
def painted(server):
    """The server with a 512 px photo at (0, 0) on the default canvas."""
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 512)))[0] == 201
    return server


def test_zoom_out_paints_coarser_levels_in_stages_as_one_revision(painted):
    client = painted.socket()
    answer = client.ask({"type": "zoomout", "x": 0, "y": 0, "w": 512, "h": 512, "steps": 2, "factor": 2,
                         "schedule": {"2": "a village in the valley"}, "params": {"seed": 4, "prompt": "a window"}})
    job = answer["job"]
    done = client.next("job.done", job=job, timeout=60)
    assert done["status"] == "done"
    started = [m for m in client.seen if m["type"] == "job.started" and m["job"] == job]
    assert [(m["stage"], m["stages"], m["level"]) for m in started] == [(0, 2, 1), (1, 2, 2)]
    revision = client.ask({"type": "history"})["revisions"][-1]
    assert revision["kind"] == "zoomout" and revision["params"]["zoom_steps"] == 2
    assert revision["params"]["schedule"] == {"2": "a village in the valley"}
    assert painted.state.canvases.store("default").authored_bounds().keys() == {0, 1, 2}
    client.close()


def test_grow_to_full_body_is_one_job(painted):
    client = painted.socket()
    job = client.ask({"type": "grow", "preset": "full-body", "prompts": ["upper body", "legs"], "params": {"seed": 1}})["job"]
    assert client.next("job.done", job=job, timeout=60)["status"] == "done"
    welcome = painted.socket().welcome
    assert welcome["bounds"] == {"x": -426, "y": 0, "w": 1365, "h": 2048}
    revision = client.ask({"type": "history"})["revisions"][-1]
    assert revision["kind"] == "grow" and revision["params"]["preset"] == "full-body"
    client.close()


def test_a_zoom_video_is_made_with_progress_and_downloaded_once_ready(painted):
    client = painted.socket()
    job = client.ask({"type": "zoomout", "x": 0, "y": 0, "w": 512, "h": 512, "steps": 2})["job"]
    client.next("job.done", job=job, timeout=60)
    answer = client.ask({"type": "video", "width": 128, "height": 128, "fps": 10, "duration": 2, "hold": 0.2})
    assert answer["type"] == "ok" and answer["frames"] == 20
    busy = client.ask({"type": "video", "width": 128, "height": 128, "fps": 10, "duration": 2})
    done = client.next("video.done", video=answer["video"], timeout=60)
    assert busy["type"] == "ok" or busy["code"] == "busy"
    assert any(m["type"] == "video.progress" and m["video"] == answer["video"] for m in client.seen)
    status, headers, body = painted.http("GET", done["url"])
    assert status == 200 and headers["content-type"] == "video/mp4" and len(body) == done["bytes"]
    with av.open(io.BytesIO(body)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20
    assert painted.http("GET", done["url"].replace(answer["video"], "0" * 32))[0] == 404
    assert painted.http("GET", "/api/canvases/default/videos/..%2F..%2Fsecret.mp4")[0] == 404
    client.close()


@pytest.mark.parametrize("message, code", [
    ({"type": "zoomout", "x": 0, "y": 0, "w": 512, "h": 512, "factor": 9}, "out_of_range"),
    ({"type": "zoomout", "x": 0, "y": 0, "w": 512, "h": 512, "steps": 0}, "out_of_range"),
    ({"type": "zoomout", "x": 0, "y": 0, "w": 512, "h": 512, "schedule": {"x": "y"}}, "bad_field"),
    ({"type": "zoomout", "x": 0, "y": 0, "w": 512, "h": 512, "schedule": ["a"]}, "bad_field"),
    ({"type": "zoomout", "w": 512, "h": 512}, "missing_field"),
    ({"type": "grow", "preset": "giant"}, "bad_field"),
    ({"type": "grow", "anchor": "middle", "aspect": 2}, "bad_field"),
    ({"type": "grow"}, "bad_params"),
    ({"type": "grow", "aspect": 1.0e9}, "out_of_range"),
    ({"type": "grow", "aspect": 2, "prompts": "legs"}, "bad_field"),
    ({"type": "video", "width": 127}, "bad_params"),
    ({"type": "video", "fps": 1000}, "out_of_range"),
    ({"type": "video", "format": "avi"}, "bad_field"),
])
def test_bad_growth_and_video_requests_are_typed_errors(painted, message, code):
    client = painted.socket()
    answer = client.ask(message)
    assert (answer["type"], answer.get("code")) == ("error", code), answer
    assert client.ask({"type": "ping"})["type"] == "ok"  # the connection lives on
    client.close()
