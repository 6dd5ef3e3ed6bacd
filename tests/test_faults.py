"""Faults under a real server: a painter that raises, runs out of memory or hangs; a full
disk; a read-only data folder; a server stopped with jobs queued. Each time the job fails
with its reason (or is reported), the canvas keeps exactly what it had, and work goes on.

(kill -9 of the whole server: test_faults_kill.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from canvas.painters import PaintProgress
from canvas.server.canvases import READ_ONLY_RETRY
from serving import FlatPainter, Server, decode, png

BASE = np.full((256, 512, 3), (90, 140, 60), np.uint8)
AREA = "x=-512&y=-512&w=1536&h=1280"
FLAT = {"colour_match": False}


class Trouble(FlatPainter):
    """FlatPainter with a fault on demand: `raise`, `oom`, or `hang` (until `release` is
    set, cancel or not, then it returns its pixels late and reports progress)."""

    name = "trouble"

    def __init__(self) -> None:
        super().__init__()
        self.fault: str | None = None
        self.release = threading.Event()
        self.returned = threading.Event()

    def paint(self, image, mask, request, progress, cancel, void=None):
        if self.fault == "raise":
            raise RuntimeError("the model fell over")
        if self.fault == "oom":
            raise MemoryError()
        if self.fault == "hang":
            self.release.wait(30)
            progress(PaintProgress(1, 1))
            self.returned.set()
        return super().paint(image, mask, request, progress, cancel)


def pixels(server: Server) -> np.ndarray:
    status, _, body = server.http("GET", f"/api/canvases/default/export.png?{AREA}")
    assert status == 200, body
    return decode(body)


def start(tmp_path: Path, **kwargs) -> Server:
    server = Server(tmp_path / "data", **kwargs)
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(BASE))[0] == 201
    return server


def job_outcome(client, answer: dict) -> dict:
    """The job's `job.failed` or `job.done`; an error answer stands for a job refused at once."""
    if answer["type"] == "error":
        return answer
    while True:
        message = client.recv()
        if message["type"] in ("job.done", "job.failed") and message["job"] == answer["job"]:
            return message


def statuses(client) -> list[str]:
    return [r["status"] for r in client.ask({"type": "history"})["revisions"]]


# -- painters ------------------------------------------------------------------------------


@pytest.fixture
def trouble(tmp_path):
    painter = Trouble()
    server = start(tmp_path, painters={"trouble": painter, "flat": FlatPainter()}, window_timeout=0.5)
    server.trouble = painter
    yield server
    painter.release.set()
    server.stop()


def test_a_painter_that_raises_or_runs_out_of_memory_fails_its_job_alone(trouble):
    client = trouble.socket()
    before = pixels(trouble)
    for fault, code, reason in [("raise", "painter_failed", "the model fell over"), ("oom", "out_of_memory", "MemoryError")]:
        trouble.trouble.fault = fault
        failed = job_outcome(client, client.ask({"type": "expand", "right": 128, "params": FLAT}))
        assert failed["type"] == "job.failed" and failed["code"] == code and reason in failed["reason"], failed
        assert np.array_equal(pixels(trouble), before)
        assert statuses(client)[-1] == "failed"
    trouble.trouble.fault = None
    done = job_outcome(client, client.ask({"type": "expand", "right": 128, "params": FLAT}))
    assert done["type"] == "job.done" and done["status"] == "done"
    assert not np.array_equal(pixels(trouble), before)
    client.close()


def test_a_hung_painter_times_out_and_the_worker_moves_on(trouble):
    client = trouble.socket()
    before = pixels(trouble)
    trouble.trouble.fault = "hang"
    started = time.monotonic()
    hung = client.ask({"type": "expand", "right": 128, "params": FLAT})
    failed = job_outcome(client, hung)
    assert failed["type"] == "job.failed" and failed["code"] == "timeout" and "0.5 s" in failed["reason"], failed
    assert time.monotonic() - started < 5
    assert np.array_equal(pixels(trouble), before) and statuses(client)[-1] == "failed"

    # The worker is free: a job for another painter runs while the stuck call hangs on.
    other = job_outcome(client, client.ask({"type": "expand", "down": 128, "params": {**FLAT, "painter": "flat"}}))
    assert other["type"] == "job.done" and other["status"] == "done"
    after_other = pixels(trouble)
    # The stuck painter is still busy: a job for it fails rather than run two calls at once.
    trouble.trouble.fault = None
    busy = job_outcome(client, client.ask({"type": "expand", "left": 128, "params": FLAT}))
    assert busy["type"] == "job.failed" and busy["code"] == "timeout" and "still busy" in busy["reason"], busy

    # When the stuck call returns at last, its pixels and progress are dropped.
    trouble.trouble.fault = "hang"
    trouble.trouble.release.set()
    assert trouble.trouble.returned.wait(10)
    trouble.trouble.fault = None
    time.sleep(0.2)
    assert np.array_equal(pixels(trouble), after_other)
    done = job_outcome(client, client.ask({"type": "expand", "left": 128, "params": FLAT}))
    assert done["type"] == "job.done" and done["status"] == "done"
    late = [m for m in client.seen if m.get("job") == hung["job"]]
    assert late[-1]["type"] == "job.failed", "events of the timed-out job after its failure"
    client.close()


# -- the disk ------------------------------------------------------------------------------


def limit_growth(server: Server, pages: int | None) -> None:
    """SQLite's max_page_count: the canvas file cannot grow past its size now (None:
    lifted), which is what a full disk does to it, for any user on any filesystem."""
    store = server.state.canvases.store("default")
    with store._lock:
        if pages is None:
            store._db.execute("PRAGMA max_page_count = 4294967294")
        else:
            store._db.execute(f"PRAGMA max_page_count = {store._db.execute('PRAGMA page_count').fetchone()[0]}")


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def check_full_disk_then_space(server: Server, fill, free) -> None:
    client = server.socket()
    before, history = pixels(server), client.ask({"type": "history"})["revisions"]
    fill()
    failed = job_outcome(client, client.ask({"type": "expand", "right": 512, "down": 256, "params": FLAT}))
    assert failed["code"] == "disk_full" and "full" in failed.get("reason", failed.get("message")), failed
    status, _, body = server.http("POST", "/api/canvases/default/upload?x=2000&y=0", png(BASE))
    assert (status, json.loads(body)["error"]["code"]) == (507, "disk_full")
    assert np.array_equal(pixels(server), before)
    assert "running" not in statuses(client)
    assert integrity(server.data / "default.canvas") == "ok"

    free()
    done = job_outcome(client, client.ask({"type": "expand", "right": 512, "params": FLAT}))
    assert done["type"] == "job.done" and done["status"] == "done", done
    grown = pixels(server)
    assert not np.array_equal(grown, before)
    revisions = client.ask({"type": "history"})["revisions"]
    assert revisions[: len(history)] == history and revisions[-1]["status"] == "done"
    assert all(r["status"] in ("done", "failed") for r in revisions)
    assert client.ask({"type": "undo"})["head"] == revisions[-2]["rev"]
    assert np.array_equal(pixels(server), before)
    assert integrity(server.data / "default.canvas") == "ok"
    client.close()


def test_a_full_disk_is_a_clear_error_and_work_resumes_when_space_returns(tmp_path):
    server = start(tmp_path, painters={"flat": FlatPainter()})
    try:
        check_full_disk_then_space(server, lambda: limit_growth(server, 0), lambda: limit_growth(server, None))
    finally:
        server.stop()


def can_mount() -> bool:
    return os.geteuid() == 0 and subprocess.run(["mount", "--version"], capture_output=True).returncode == 0


@contextlib.contextmanager
def mounted(target: Path, *args: str):
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.mark.skipif(not can_mount(), reason="a real full disk needs a small tmpfs: root only")
def test_a_real_full_disk(tmp_path):
    """The same on a 4 MiB tmpfs that a file fills up: SQLite meets ENOSPC itself."""
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=4m", "tmpfs") as disk:
        server = start(disk, painters={"flat": FlatPainter()})
        filler = disk / "filler"

        def fill() -> None:
            with open(filler, "wb", buffering=0) as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 4096)

        try:
            check_full_disk_then_space(server, fill, filler.unlink)
        finally:
            server.stop()


@pytest.mark.skipif(not (can_mount() or os.geteuid() != 0), reason="root ignores chmod, and mount is refused here")
def test_a_read_only_data_folder_serves_reads_refuses_writes_and_recovers(tmp_path):
    """The folder is really read-only: a read-only bind mount for root (who ignores
    file modes), chmod for anyone else. The server starts on it and shows the canvas."""
    data = tmp_path / "data"
    first = start(tmp_path, painters={"flat": FlatPainter()})
    first.stop()
    ro = tmp_path / "ro"
    with contextlib.ExitStack() as stack:
        if os.geteuid() == 0:
            stack.enter_context(mounted(ro, "--bind", str(data)))
            subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
            writable = lambda: subprocess.run(["mount", "-o", "remount,bind,rw", str(ro)], check=True)  # noqa: E731
        else:
            ro = data
            modes = {p: p.stat().st_mode for p in [data, *data.iterdir()]}
            for path in modes:
                path.chmod(0o555 if path.is_dir() else 0o444)
            writable = lambda: [path.chmod(mode) for path, mode in modes.items()]  # noqa: E731
            stack.callback(writable)
        server = Server(ro, painters={"flat": FlatPainter()})
        try:
            client = server.socket()
            assert client.welcome["head"] == 1
            before = pixels(server)
            assert (before[..., 3] > 0).any()
            assert server.http("GET", "/api/canvases/default/tiles/0/0/0.png")[0] == 200
            refused = job_outcome(client, client.ask({"type": "expand", "right": 128, "params": FLAT}))
            assert refused["code"] == "read_only", refused
            assert client.ask({"type": "undo"})["code"] == "read_only"
            status, _, body = server.http("POST", "/api/canvases", {"name": "new"})
            assert (status, json.loads(body)["error"]["code"]) == (503, "read_only")
            assert np.array_equal(pixels(server), before)

            writable()  # the folder comes back: work resumes without a restart
            time.sleep(READ_ONLY_RETRY + 0.1)
            client.close()
            client = server.socket()
            done = job_outcome(client, client.ask({"type": "expand", "right": 128, "params": FLAT}))
            assert done["type"] == "job.done" and done["status"] == "done", done
            client.close()
        finally:
            server.stop()
        assert integrity(data / "default.canvas") == "ok"


# -- stopping ------------------------------------------------------------------------------


def test_jobs_queued_at_a_stop_are_reported_interrupted_after_it(tmp_path):
    painter = FlatPainter(delay=0.3)
    server = start(tmp_path, painters={"flat": painter})
    client = server.socket()
    jobs = [client.ask({"type": "expand", side: 128, "params": {**FLAT, "seed": i}})["job"]
            for i, side in enumerate(("right", "down", "left"))]
    client.next("job.started", job=jobs[0])
    client.close()
    server.stop()  # the running job is cancelled, the queued ones are dropped

    again = Server(tmp_path / "data", painters={"flat": painter})
    try:
        client = again.socket()
        interrupted = client.welcome["interrupted"]
        assert [(r["job"], r["kind"], r["rev"]) for r in interrupted] == [(jobs[1], "expand", None), (jobs[2], "expand", None)]
        assert interrupted[0]["request"] == {"down": 128, "params": {**FLAT, "seed": 1}}
        assert [r["status"] for r in client.ask({"type": "history"})["revisions"]] == ["done", "cancelled"]
        client.close()
    finally:
        again.stop()
