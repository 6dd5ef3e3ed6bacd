"""kill -9 of a real server process at random moments during jobs, then a restart.

Each trial, on the server left by the previous one: restart it on the same data folder,
check the canvas the last trial killed, then make a canvas, place a grey base, ask for
three jobs (each an outpaint of the next 1024 x 256 strip below, painted by FlatPainter:
every window's new pixels in one flat colour), and SIGKILL the server at a random moment
while they run. After the restart, for that canvas:

- it opens: the welcome names no running job and the head is the newest revision;
- every job that was answered `ok` is accounted for: its revision is `done` (it ended
  before the kill), or it is listed in `welcome.interrupted`, with the revision it had
  started (then `interrupted`, keeping the windows it committed) or none (it had not
  started). Nothing is dropped without a word, nothing is still `running`;
- every window of every revision (its plan is in the revision's info) is whole: its new
  pixels all in its one colour, or all still unknown; committed windows are the first
  ones of the plan; a `done` revision committed them all; the base is untouched; the
  pyramid (levels 1 and 2) matches level 0, so it was written with each window;
- undo takes the newest revision's pixels away and redo brings them back, and the
  canvas takes a new job.

`bench/soak.py` runs the same trials, more of them, and prints figures.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed

from canvas.store import Store
from canvas.store.pixels import downsample2
from serving import ChildServer, decode, png
from tiler.rect import Rect

BASE = Rect(0, 0, 1024, 256)
GREY = (128, 128, 128)
STRIP = 256
JOBS = 3
AREA = Rect(0, 0, 1024, STRIP * (JOBS + 1))  # the base and every strip
PARAMS = {"colour_match": False, "window": 512}


def strip(k: int) -> Rect:
    return Rect(0, STRIP * (k + 1), 1024, STRIP)


class Trials:
    """The trials on one data folder, and what they found."""

    def __init__(self, data: Path, rng: random.Random, delay: float = 0.03, kill_within: float = 0.45) -> None:
        self.data, self.rng, self.delay, self.kill_within = data, rng, delay, kill_within
        self.server: ChildServer | None = None
        self.pending: dict[str, Any] | None = None  # the killed trial, to check after the restart
        self.figures = {"trials": 0, "restarts": 0, "jobs_asked": 0, "jobs_done": 0, "jobs_interrupted_running": 0,
                        "jobs_interrupted_waiting": 0, "windows_checked": 0, "windows_kept_of_interrupted": 0,
                        "kills_mid_job": 0, "restart_seconds_max": 0.0, "restart_seconds_total": 0.0}

    def run(self, count: int) -> dict[str, Any]:
        try:
            for _ in range(count):
                self.restart()
                self.trial()
            self.restart()
        finally:
            if self.server is not None:
                self.server.stop()
        figures = dict(self.figures)
        figures["restart_seconds_mean"] = figures.pop("restart_seconds_total") / max(1, figures["restarts"])
        return figures

    def restart(self) -> None:
        started = time.monotonic()
        self.server = ChildServer(self.data, delay=self.delay)
        took = time.monotonic() - started
        self.figures["restarts"] += 1
        self.figures["restart_seconds_total"] += took
        self.figures["restart_seconds_max"] = max(self.figures["restart_seconds_max"], took)
        if self.pending is not None:
            self.check(**self.pending)
            self.pending = None

    def trial(self) -> None:
        server, n = self.server, self.figures["trials"]
        assert server is not None
        name = f"t{n}"
        assert server.http("POST", "/api/canvases", {"name": name})[0] == 201
        base = np.full((BASE.h, BASE.w, 3), GREY, np.uint8)
        assert server.http("POST", f"/api/canvases/{name}/upload?x=0&y=0", png(base))[0] == 201
        client = server.socket(name)
        asked: dict[str, int] = {}  # job id -> seed
        for k in range(JOBS):
            seed = 1000 * n + 10 * k
            rect = strip(k)
            answer = client.ask({"type": "outpaint", "x": rect.x, "y": rect.y, "w": rect.w, "h": rect.h,
                                 "params": {**PARAMS, "seed": seed}})
            assert answer["type"] == "ok", answer
            asked[answer["job"]] = seed
        time.sleep(self.rng.uniform(0, self.kill_within))
        server.kill()
        seen = _drain(client)
        done_seen = {m["job"] for m in seen if m["type"] == "job.done"}
        if len(done_seen) < JOBS:
            self.figures["kills_mid_job"] += 1
        self.figures["trials"] += 1
        self.figures["jobs_asked"] += len(asked)
        self.pending = {"name": name, "asked": asked, "done_seen": done_seen}

    def check(self, name: str, asked: dict[str, int], done_seen: set[str]) -> None:
        server = self.server
        assert server is not None
        client = server.socket(name)  # the server opens the canvas, and recovers it, here
        welcome = client.welcome
        where = f"canvas {name}"
        assert welcome["jobs"] == [], where
        interrupted = {record["job"]: record for record in welcome["interrupted"]}
        assert set(interrupted) <= set(asked), (where, interrupted)
        with Store.open(self.data / f"{name}.canvas", create=False) as store:
            history = store.history()
            pixels = [store.read(level, AREA.to_level(0, level)) for level in range(3)]
        assert welcome["head"] == history[-1].id, where
        assert [r.kind for r in history[:1]] == ["import"] and history[0].status == "done", where
        by_seed = {r.params.get("seed"): r for r in history[1:]}
        assert len(by_seed) == len(history) - 1, (where, "one revision per job")
        for revision in history:
            assert revision.status in ("done", "interrupted"), (where, revision)

        level0 = pixels[0]
        assert (level0[BASE.relative_to(AREA).slices] == (*GREY, 255)).all(), (where, "the base changed")
        for k, (job, seed) in enumerate(sorted(asked.items(), key=lambda item: item[1])):
            revision = by_seed.get(seed)
            if job in done_seen:
                assert revision is not None and revision.status == "done", (where, job)
            if revision is not None and revision.status == "done":
                assert job not in interrupted, (where, job, "done yet reported interrupted")
                self.figures["jobs_done"] += 1
            else:
                assert job in interrupted, (where, job, "neither done nor reported: dropped")
                assert interrupted[job]["rev"] == (revision.id if revision else None), (where, interrupted[job])
                assert interrupted[job]["kind"] == "outpaint" and interrupted[job]["request"]["params"]["seed"] == seed
                self.figures["jobs_interrupted_running" if revision else "jobs_interrupted_waiting"] += 1
            self.check_strip(where, level0, strip(k), revision)
        expected = level0
        for level in (1, 2):  # the pyramid was written with each window
            expected = downsample2(expected)
            assert np.array_equal(pixels[level], expected), (where, f"level {level} does not match level 0")

        self.check_undo(client, name, history)
        answer = client.ask({"type": "expand", "right": 64, "params": {**PARAMS, "seed": 7}})
        assert answer["type"] == "ok", answer
        assert client.next("job.done", job=answer["job"], timeout=30)["status"] == "done"
        client.close()

    def check_strip(self, where: str, level0: np.ndarray, rect: Rect, revision: Any) -> None:
        got = level0[rect.relative_to(AREA).slices]
        if revision is None:
            assert (got[..., 3] == 0).all(), (where, rect, "painted without a revision")
            return
        left = np.ones((rect.h, rect.w), bool)  # pixels of the strip no earlier window filled
        committed, colours = 0, set()
        for index, plan in enumerate(revision.info["plan"]):
            window = Rect(*plan).intersect(rect)
            fill = np.zeros_like(left)
            if not window.empty:
                fill[window.relative_to(rect).slices] = True
            fill &= left
            left &= ~fill
            if not fill.any():
                continue
            region = got[fill]
            if (region[:, 3] == 0).all():
                continue  # not committed
            assert committed == index, (where, revision.id, f"window {index} committed after a missing one")
            colour = tuple(region[0])
            assert colour[3] == 255 and (region == colour).all(), (where, revision.id, f"window {index} is not whole")
            assert colour[:3] != GREY and colour not in colours, (where, revision.id, index)
            colours.add(colour)
            committed = index + 1
            self.figures["windows_checked"] += 1
        assert (got[left][:, 3] == 0).all(), (where, revision.id, "pixels painted outside every window")
        if revision.status == "done":
            assert committed == len(revision.info["plan"]) == revision.info["windows"], (where, revision.id)
        else:
            self.figures["windows_kept_of_interrupted"] += committed

    def check_undo(self, client: Any, name: str, history: list[Any]) -> None:
        newest = history[-1]
        seed = newest.params.get("seed")
        rect = BASE if seed is None else strip(seed % 1000 // 10)  # what the newest revision painted
        area = f"x={rect.x}&y={rect.y}&w={rect.w}&h={rect.h}"
        before = self.export(name, area)
        answer = client.ask({"type": "undo"})
        previous = history[-2].id if len(history) > 1 else 0
        assert answer["type"] == "ok" and answer["rev"] == newest.id and answer["head"] == previous, answer
        undone = self.export(name, area)
        touched = np.any(before != undone, axis=2)
        assert (undone[touched][:, 3] == 0).all(), "undo left pixels of the undone revision"
        assert client.ask({"type": "redo"})["head"] == newest.id
        assert np.array_equal(self.export(name, area), before), "redo did not bring the pixels back"

    def export(self, name: str, area: str) -> np.ndarray:
        status, _, body = self.server.http("GET", f"/api/canvases/{name}/export.png?{area}")
        assert status == 200, body
        return decode(body)


def _drain(client: Any) -> list[dict]:
    """What the client had received when the server died."""
    try:
        while True:
            client.recv(timeout=2)
    except (ConnectionClosed, TimeoutError, OSError, json.JSONDecodeError):
        pass
    return client.seen


def test_kill_9_at_random_moments_loses_nothing(tmp_path):
    figures = Trials(tmp_path / "data", random.Random(6)).run(50)
    print(figures)
    assert figures["trials"] == 50
    # The kills landed all along the jobs: before, between and inside windows (each job's
    # windows take 30 ms or more, so on any machine a good share of kills land mid-job).
    assert figures["kills_mid_job"] >= 15
    assert figures["jobs_interrupted_running"] >= 3 and figures["jobs_interrupted_waiting"] >= 3
    assert figures["windows_kept_of_interrupted"] >= 1
