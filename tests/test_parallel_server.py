"""The server's painters shared by jobs on several canvases: a window at a time in turn,
so a small inpaint is not held back by a big expansion; and `boundless serve --painters 2`
painting two clients' jobs in two processes."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from pictures import photo
from serving import ChildServer, FlatPainter, Server, decode, png
from test_hostile import free_port

from canvas.jobs.pool import ThreadPool

EVERY_SIDE = {"type": "expand", "left": 512, "right": 512, "up": 512, "down": 512}  # 12 windows


def _canvas(server, name: str) -> None:
    if name != "default":
        assert server.http("POST", "/api/canvases", {"name": name})[0] == 201
    assert server.http("POST", f"/api/canvases/{name}/upload?x=0&y=0", png(photo("astronaut", 512)))[0] == 201


def _inpaint(client, id: str) -> str:
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 1
    client.send_binary({"type": "inpaint", "id": id, "x": 200, "y": 200, "w": 64, "h": 64}, mask.tobytes())
    return client.next("ok", id=id)["job"]


@pytest.mark.parametrize("painters", [1, 2])
def test_a_small_inpaint_on_another_canvas_finishes_before_a_big_expansion_submitted_first(tmp_path, painters):
    served = FlatPainter(delay=0.2) if painters == 1 else ThreadPool([FlatPainter(delay=0.2) for _ in range(painters)])
    server = Server(tmp_path / "data", painters={"flat": served})
    try:
        _canvas(server, "default")
        _canvas(server, "small")
        big, small = server.socket("default"), server.socket("small")
        assert big.welcome["painter_pools"] == {"flat": painters}
        expand = big.ask(EVERY_SIDE)["job"]
        windows = len(big.next("job.started", job=expand)["windows"])
        inpaint = _inpaint(small, "in1")
        assert small.next("job.done", job=inpaint, timeout=60)["status"] == "done"
        # The expansion is still painting: the inpaint took its turn between its windows.
        running = [job.id for job in server.state.queue.running]
        assert expand in running
        assert big.next("job.done", job=expand, timeout=60)["status"] == "done"
        committed = [m for m in big.seen if m["type"] == "window.committed" and m["job"] == expand]
        assert len(committed) == windows == 12
        big.close()
        small.close()
    finally:
        server.stop()


def test_one_canvas_runs_its_jobs_one_at_a_time_in_order(tmp_path):
    server = Server(tmp_path / "data", painters={"flat": ThreadPool([FlatPainter(delay=0.05), FlatPainter(delay=0.05)])})
    try:
        _canvas(server, "default")
        client = server.socket()
        first = client.ask({"type": "expand", "right": 512})["job"]
        second = client.ask({"type": "expand", "down": 512})["job"]
        client.next("job.done", job=first, timeout=60)
        started = client.next("job.started", job=second, timeout=60)
        done_first = next(i for i, m in enumerate(client.seen) if m["type"] == "job.done" and m["job"] == first)
        assert client.seen.index(started) > done_first  # the second planned over what the first painted
        assert client.next("job.done", job=second, timeout=60)["status"] == "done"
        client.close()
    finally:
        server.stop()


def test_serve_with_two_painter_processes_paints_two_clients_jobs_on_two_canvases(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "canvas", "serve", "--data", str(tmp_path / "data"), "--port", str(port),
               "--painter", "patchmatch", "--painters", "2"]
    server = ChildServer(tmp_path / "data", command=command, port=port)
    try:
        deadline = time.monotonic() + 120  # two painter processes start before the server listens
        while True:
            try:
                if server.http("GET", "/api/canvases")[0] == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline and server.process.poll() is None, "boundless serve did not start"
                time.sleep(0.2)
        _canvas(server, "default")
        _canvas(server, "other")
        one, two = server.socket("default"), server.socket("other")
        assert one.welcome["painter_pools"] == {"patchmatch": 2}
        # What the painter processes report of their painter (its PainterProfile).
        assert one.welcome["painter_info"] == {"patchmatch": {"label": "PatchMatch", "uses": [], "defaults": {}}}
        jobs = [(one, one.ask({"type": "expand", "right": 64})["job"]), (two, two.ask({"type": "expand", "down": 64})["job"])]
        for client, job in jobs:
            assert client.next("job.done", job=job, timeout=120)["status"] == "done"
        for name, area in (("default", "x=0&y=0&w=576&h=512"), ("other", "x=0&y=0&w=512&h=576")):
            status, _, body = server.http("GET", f"/api/canvases/{name}/export.png?{area}")
            assert status == 200 and (decode(body)[..., 3] == 255).all()  # every pixel painted
        one.close()
        two.close()
    finally:
        server.stop()
