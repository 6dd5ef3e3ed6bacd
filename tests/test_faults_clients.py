"""Clients that leave mid-job, come back, or flood the server: the rules of
docs/protocol.md ("Jobs and the queue") hold, and nobody else is starved."""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from canvas.server import broadcast, limits
from serving import FlatPainter, Server, png

FLAT = {"colour_match": False}


@pytest.fixture
def slow(tmp_path):
    """A server whose painter takes 0.15 s a window, with a small picture on its canvas."""
    painter = FlatPainter(delay=0.15)
    server = Server(tmp_path / "data", painters={"flat": painter})
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0",
                       png(np.full((256, 256, 3), 120, np.uint8)))[0] == 201
    server.painter = painter
    yield server
    server.stop()


def expand(client, side: str, seed: int) -> dict:
    return client.ask({"type": "expand", side: 64, "params": {**FLAT, "seed": seed}})


def test_clients_take_turns_and_one_cannot_queue_more_than_its_share(slow):
    greedy, modest = slow.socket(), slow.socket()
    mine = [expand(greedy, side, i)["job"] for i, side in enumerate(("right", "down", "left", "up"))]
    refused = expand(greedy, "right", 9)
    assert refused["type"] == "error" and refused["code"] == "queue_full"
    theirs = expand(modest, "down", 10)["job"]
    modest.next("job.done", job=mine[3], timeout=30)
    events = [(m["type"], m["job"]) for m in modest.seen if m["type"] in ("job.started", "job.queued", "job.done")]
    started = [job for kind, job in events if kind == "job.started"]
    # The job running when `modest` asked ends first (mine[0], unless the machine is slow
    # enough for it to have ended); then `modest` goes before all of greedy's queued ones.
    ended = {job for kind, job in events[: events.index(("job.queued", theirs))] if kind == "job.done"}
    before = len(ended) + 1
    assert started == [*mine[:before], theirs, *mine[before:]] and before <= 2, started
    assert expand(greedy, "right", 11)["type"] == "ok"  # room again
    greedy.close()
    modest.close()


def test_a_client_that_leaves_and_comes_back_finds_its_job(slow):
    client = slow.socket()
    job = expand(client, "right", 1)["job"]
    client.next("job.started", job=job)
    owner = client.welcome["client"]
    client.close()
    back = slow.socket()
    assert back.welcome["client"] != owner
    assert back.welcome["jobs"] == [{"job": job, "kind": "expand", "client": owner, "state": "running"}]
    assert back.next("job.done", job=job)["status"] == "done"
    back.close()


def test_candidates_wait_while_anyone_views_and_go_when_the_last_viewer_leaves(slow):
    slow.painter.delay = 0.0
    author, viewer = slow.socket(), slow.socket()
    job = author.ask({"type": "expand", "right": 64, "params": {**FLAT, "candidates": 2}})["job"]
    viewer.next("candidates", job=job)
    author.close()
    time.sleep(0.2)
    assert viewer.ask({"type": "accept", "job": job, "candidate": 1})["type"] == "ok"  # still waiting
    assert viewer.next("job.done", job=job)["status"] == "done"

    second = viewer.ask({"type": "expand", "down": 64, "params": {**FLAT, "candidates": 2}})["job"]
    viewer.next("candidates", job=second)
    viewer.close()  # nobody is left: the window is discarded and the painter freed
    client = slow.socket()
    deadline = time.monotonic() + 10
    while client.ask({"type": "history"})["revisions"][-1]["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    done = client.next("job.done", job=expand(client, "left", 3)["job"])
    assert done["status"] == "done"
    client.close()


def test_a_flooding_client_is_paced_and_does_not_starve_the_others(slow):
    """One client sends commands as fast as it can: past a burst it is slowed to the
    pace in limits.py (its commands wait; none is dropped); another client's commands
    stay quick meanwhile, and jobs run."""
    flooder, other = slow.socket(), slow.socket()
    job = expand(other, "down", 50)["job"]
    count = limits.COMMAND_BURST + limits.COMMANDS_PER_SECOND * 3 // 2
    answered, started = [], time.monotonic()

    def flood() -> None:
        for i in range(count):
            flooder.send({"type": "ping", "id": i})
        while len(answered) < count:
            message = flooder.recv(timeout=30)
            if message["type"] == "ok":
                answered.append(message["id"])

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    waits = []
    while thread.is_alive():
        began = time.monotonic()
        assert other.ask({"type": "ping"})["type"] == "ok"
        waits.append(time.monotonic() - began)
        time.sleep(0.01)
    took = time.monotonic() - started
    assert answered == list(range(count)), "a flooded command was dropped or reordered"
    assert took >= 0.8 * (count - limits.COMMAND_BURST) / limits.COMMANDS_PER_SECOND, took
    print(f"{count} flooded commands in {took:.2f} s; the other's pings meanwhile: {len(waits)}, "
          f"median {statistics.median(waits) * 1000:.1f} ms, worst {max(waits) * 1000:.1f} ms")
    assert statistics.median(waits) < 0.05 and max(waits) < 2.0
    done = [m for m in other.seen if m["type"] == "job.done" and m["job"] == job] or [other.next("job.done", job=job)]
    assert done[0]["status"] == "done"
    flooder.close()
    other.close()


def test_a_client_that_reads_nothing_is_dropped_and_the_others_go_on(slow, monkeypatch):
    """Tiles pile up for a client that reads nothing (a frozen tab): past its outbox
    limit it is dropped, its messages freed, its connection cut; the others go on."""
    monkeypatch.setattr(broadcast, "CLOSE_TIMEOUT", 0.5)
    noise = np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    assert slow.http("POST", "/api/canvases/default/upload?x=0&y=0", png(noise))[0] == 201
    frozen = slow.socket(max_queue=1, compression=None)  # stops reading once a message waits
    assert frozen.ask({"type": "subscribe", "level": 0, "x": 0, "y": 0, "w": 1024, "h": 1024})["type"] == "ok"
    worker = slow.socket()
    frozen_id = frozen.welcome["client"]

    def viewers() -> dict:
        return {client.id: client for client in slow.state.broadcaster.viewers("default")}

    for i in range(200):  # each undo or redo pushes the frozen client 16 tiles of 256 KB
        began = time.monotonic()
        assert worker.ask({"type": "undo" if i % 2 == 0 else "redo"})["type"] == "ok"
        assert time.monotonic() - began < 1.0
        if frozen_id not in viewers() or viewers()[frozen_id].stuck:
            break
    else:
        pytest.fail("the frozen client was never dropped")
    deadline = time.monotonic() + 10
    while frozen_id in viewers():
        assert time.monotonic() < deadline, "the frozen client's connection was never cut"
        time.sleep(0.05)
    assert all(client.outbox.qsize() == 0 for client in viewers().values())
    assert worker.ask({"type": "ping"})["type"] == "ok"
    with pytest.raises((ConnectionClosed, TimeoutError)):
        while True:
            frozen.recv(timeout=5)
    worker.close()
