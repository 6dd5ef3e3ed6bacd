"""Each pipeline family served by a real server (tests/serving.py) on its tiny model
(tests/tiny_families.py): `welcome` names it and offers only its options with its
defaults, a job left without steps or guidance paints with the family's and the history
records family and model; candidates and pick, previews and cancel through the websocket."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

from canvas.painters.diffusion.families import FAMILIES  # noqa: E402
from pictures import photo  # noqa: E402
from serving import Server, decode, png  # noqa: E402
from tiny_families import FAMILY_KINDS, TinyFamilies  # noqa: E402

SIZE = 128  # the uploaded photo: jobs paint windows of 512 px, mostly empty
QUICK = {"steps": 2, "guidance": 3.5}
# FLUX.1 Fill, and a family with a Qwen text encoder and true classifier-free guidance
WEBSOCKET_KINDS = [key for key in ("flux-fill", "qwen-image") if key in FAMILY_KINDS]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyFamilies:
    return TinyFamilies.shared(tmp_path_factory)


@pytest.fixture(scope="module", params=FAMILY_KINDS)
def served(request, tiny, tmp_path_factory):
    """A server painting with family `request.param`'s tiny model, a photo at (0, 0)."""
    key = request.param
    server = Server(tmp_path_factory.mktemp(f"served-{key}"), painters={"diffusion": tiny.painter(key)})
    assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", SIZE)))[0] == 201
    server.key = key
    yield server
    server.stop()


def pixels(server, x=-256, y=-256, w=SIZE + 512, h=SIZE + 512):
    status, _, body = server.http("GET", f"/api/canvases/default/export.png?x={x}&y={y}&w={w}&h={h}")
    assert status == 200
    return decode(body)


def test_welcome_names_the_family_and_offers_only_its_options(served, tiny):
    family = FAMILIES[served.key]
    painter = tiny.painter(served.key)
    client = served.socket()
    info = client.welcome["painter_info"]["diffusion"]
    assert info["label"] == f"{family.label} · {served.key}"
    uses = ["prompt", *(["negative_prompt"] if family.negative_prompt else []), "steps", "guidance", "strength"]
    assert info["uses"] == uses
    assert info["defaults"] == {"steps": family.steps, "guidance": family.guidance, "strength": 1.0}
    if served.key == "flux-fill":
        assert "negative_prompt" not in info["uses"] and info["defaults"]["steps"] == 50 and info["defaults"]["guidance"] == 30
    options = client.welcome["painter_options"]["diffusion"]
    assert set(options) == set(painter.OPTIONS) and "scheduler" not in options
    assert ("soft_mask" in options) == (family.blend == "latent blend")
    assert options["masked_content"]["choices"] == ["fill", "original"]
    client.close()


def test_a_job_paints_with_the_familys_defaults_and_the_history_records_family_and_model(served, tiny):
    family = FAMILIES[served.key]
    client = served.socket()
    before = pixels(served)
    job = client.ask({"type": "expand", "right": 64, "params": {"prompt": "a red boat", "seed": 3}})["job"]
    done = client.next("job.done", job=job, timeout=120)
    assert done["status"] == "done"
    [entry] = [r for r in client.ask({"type": "history"})["revisions"] if r["rev"] == done["rev"]]
    params = entry["params"]
    assert params["painter"] == "diffusion" and params["family"] == served.key
    assert params["model"] == str(tiny.folder(served.key))
    assert (params["steps"], params["guidance"], params["strength"]) == (family.steps, family.guidance, 1.0)
    after = pixels(served)
    # the known part outside the band (pad 64 by default) bit for bit; the new strip painted opaque
    inner = (slice(256, 256 + SIZE), slice(256, 256 + SIZE - 64))
    assert np.array_equal(after[inner], before[inner])
    strip = after[256 : 256 + SIZE, 256 + SIZE : 256 + SIZE + 64]
    assert (strip[..., 3] == 255).all() and strip[..., :3].std() > 0
    assert client.ask({"type": "undo"})["type"] == "ok"  # the next test starts from the photo
    client.close()


@pytest.mark.parametrize("key", WEBSOCKET_KINDS)
def test_candidates_and_pick_previews_and_cancel_through_the_websocket(tiny, key, tmp_path):
    server = Server(tmp_path / "data", painters={"diffusion": tiny.painter(key)})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", SIZE)))[0] == 201
        client = server.socket()
        before = pixels(server)

        # Two candidates, each the whole window; the second picked is what the canvas shows.
        job = client.ask({"type": "expand", "down": 64, "params": {**QUICK, "seed": 5, "candidates": 2}})["job"]
        staged = client.next("candidates", job=job, timeout=60)
        frames = [client.next("candidate", job=job) for _ in range(staged["count"])]
        assert staged["count"] == 2 and [f["index"] for f in frames] == [0, 1]
        assert frames[0]["payload"] != frames[1]["payload"]
        r = staged["rect"]
        assert client.ask({"type": "accept", "job": job, "candidate": 1})["type"] == "ok"
        assert client.next("job.done", job=job)["status"] == "done"
        # previews: a small picture of the window per step, before the candidates
        previews = [m for m in client.seen if m["type"] == "preview" and m.get("job") == job]
        assert previews and all(len(m["payload"]) == m["w"] * m["h"] * 3 for m in previews)
        candidate = np.frombuffer(frames[1]["payload"], np.uint8).reshape(r["h"], r["w"], 4)
        strip = pixels(server, 0, SIZE, SIZE, 64)
        assert np.array_equal(strip, candidate[SIZE - r["y"] : SIZE + 64 - r["y"], 0 - r["x"] : SIZE - r["x"]])
        assert client.ask({"type": "undo"})["type"] == "ok"
        assert np.array_equal(pixels(server), before)

        # Cancel mid-job: nothing is committed.
        job = client.ask({"type": "expand", "left": 64, "params": {"steps": 40, "guidance": 1.0}})["job"]
        client.next("job.progress", job=job, timeout=60)
        assert client.ask({"type": "cancel", "job": job})["type"] == "ok"
        assert client.next("job.done", job=job, timeout=60)["status"] == "cancelled"
        assert not any(m["type"] == "window.committed" and m.get("job") == job for m in client.seen)
        assert np.array_equal(pixels(server), before)
        client.close()
    finally:
        server.stop()
