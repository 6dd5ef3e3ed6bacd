"""Models per job on a live server (tests/serving.py: real uvicorn): two canvases, one
painting with a loaded model while the other's job waits for another model to load;
`welcome` lists the library without a path; a job's model and LoRAs are checked before it
is queued; `rescan` tells every client; the history records the model and its hash."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from library_folders import comfy_folder, tiny  # noqa: F401  the tiny fixture
from pictures import photo
from serving import Server, png
from tiny_loras import save_diffusers_lora

from canvas.library import Library
from canvas.painters.diffusion.models_painter import ModelsPainter
from canvas.painters.diffusion.settings import DiffusionSettings

PARAMS = {"prompt": "a lake", "steps": 2, "seed": 3}


@pytest.fixture()
def served(tmp_path, tiny):
    """A server with the diffusion painter over a ComfyUI folder; the load of the SDXL model
    waits for `gate` (the real load, held), so a test sees what happens meanwhile."""
    folder = comfy_folder(tiny, tmp_path / "ComfyUI")
    library = Library([folder], cache=None)
    painter = ModelsPainter(DiffusionSettings(model="sd15", models=(str(folder),), dtype="fp32", offline=True), library)
    gate = threading.Event()
    load = painter.cache.load

    def gated(name: str):
        if name == "tiny-xl":
            assert gate.wait(120)
        return load(name)

    painter.cache.load = gated
    server = Server(tmp_path / "data", painters={"diffusion": painter}, library=library)
    for name in ("default", "other"):
        if name != "default":
            assert server.http("POST", "/api/canvases", {"name": name})[0] == 201
        assert server.http("POST", f"/api/canvases/{name}/upload?x=0&y=0", png(photo("astronaut", 256)))[0] == 201
    try:
        yield server, painter, gate, folder
    finally:
        gate.set()
        server.stop()


def _inpaint(client, id: str, expect: str = "ok", **params) -> dict:
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 1
    client.send_binary({"type": "inpaint", "id": id, "x": 96, "y": 96, "w": 64, "h": 64,
                        "params": {**PARAMS, **params}}, mask.tobytes())
    return client.next(expect, id=id)


def test_a_canvas_paints_with_its_loaded_model_while_the_other_canvas_waits_for_another(served):
    server, painter, gate, _ = served
    first, second = server.socket("default"), server.socket("other")
    waiting = _inpaint(second, "b1", model="tiny-xl")["job"]
    assert second.next("job.loading", job=waiting)["model"] == "tiny-xl"
    painting = _inpaint(first, "a1")["job"]  # the default model, loaded
    assert first.next("job.done", job=painting, timeout=120)["status"] == "done"
    assert "tiny-xl" not in painter.cache  # still loading: the first canvas's job did not wait for it
    gate.set()
    assert second.next("job.loading", job=waiting, timeout=120)["loaded"] is True
    assert second.next("job.done", job=waiting, timeout=120)["status"] == "done"
    # Both loaded now: switching costs no load, in either direction.
    again = _inpaint(first, "a2", model="tiny-xl")["job"]
    back = _inpaint(second, "b2", model="sd15")["job"]
    assert first.next("job.done", job=again, timeout=120)["status"] == "done"
    assert second.next("job.done", job=back, timeout=120)["status"] == "done"
    assert not any(m["type"] == "job.loading" and m["job"] in (again, back) for m in first.seen + second.seen)
    revisions = second.ask({"type": "history"})["revisions"]
    params = [r["params"] for r in revisions if r["kind"] == "inpaint"]
    assert [p["model"] for p in params] == ["tiny-xl", "sd15"] and params[0]["family"] == "sdxl"
    assert [p["window"] for p in params] == [1024, 512]  # each model's native window
    # Diffusers folders have no A1111 hash; the record says which model, by name.
    assert "model_hash" not in params[0]
    first.close()
    second.close()


def test_welcome_lists_models_and_loras_by_name_never_a_path(served):
    server, _, _, folder = served
    client = server.socket("default")
    welcome = client.welcome
    assert [(m["name"], m["family"], m["kind"]) for m in welcome["models"]] == [
        ("sd15", "sd1", "checkpoint"), ("tiny-xl", "sdxl", "checkpoint")]
    assert [(m["name"], m["family"]) for m in welcome["loras"]] == [("ink", "sd1"), ("xl-ink", "sdxl")]
    assert str(folder) not in str(welcome) and all(m["size"] > 0 for m in welcome["models"])
    # What naming a model of a family gives a job (the panel shows it), and the painter's own family.
    assert welcome["painter_info"]["diffusion"]["family"] == "sd1"
    assert welcome["families"]["sdxl"] == {"label": "SDXL", "uses": ["prompt", "negative_prompt", "steps", "guidance", "strength"],
                                           "defaults": {"steps": 25, "guidance": 7.0, "strength": 1.0}, "window": 1024}
    assert welcome["families"]["flux-fill"]["defaults"]["steps"] == 50 and "negative_prompt" not in welcome["families"]["flux-fill"]["uses"]
    status, _, body = server.http("GET", "/api/models")
    assert status == 200 and str(folder) not in body.decode()
    client.close()


@pytest.mark.parametrize("params, code", [
    ({"model": "nothing-here"}, "unknown_model"),
    ({"model": "../sd15"}, "bad_name"),
    ({"model": 7}, "bad_field"),
    ({"prompt": "a lake <lora:nothing:1>"}, "unknown_lora"),
    ({"prompt": "a lake <lora:xl-ink:1>"}, "bad_lora"),  # an SDXL LoRA on the SD 1.x default
    ({"prompt": "a lake <lora:ink:1>", "model": "tiny-xl"}, "bad_lora"),  # an SD 1.x LoRA on SDXL
    ({"prompt": "a lake <lora:ink:much>"}, "bad_lora"),
])
def test_a_bad_model_or_lora_is_a_typed_error_and_nothing_is_queued(served, params, code):
    server, _, _, _ = served
    client = server.socket("default")
    error = _inpaint(client, "bad", expect="error", **params)
    assert error["code"] == code and "\n" not in error["message"]
    assert server.state.queue.jobs() == [] and not any(m["type"] == "job.queued" for m in client.seen)
    client.close()


def test_rescan_finds_a_new_lora_and_tells_every_canvas(served, tiny):
    server, _, _, folder = served
    first, second = server.socket("default"), server.socket("other")
    save_diffusers_lora(tiny.folder("sd-inpaint"), folder / "models" / "loras" / "new" / "fresh.safetensors", seed=9)
    answer = first.ask({"type": "rescan"})
    assert answer["type"] == "ok" and answer["loras"] == 3
    # The asker was told before its answer came; the other canvas's client is told too.
    told = [m for m in first.seen if m["type"] == "models.changed"] + [second.next("models.changed")]
    assert all("new/fresh" in [lora["name"] for lora in changed["loras"]] for changed in told) and len(told) == 2
    job = _inpaint(first, "fresh", prompt="a lake <lora:fresh:0.5>")["job"]
    assert first.next("job.done", job=job, timeout=120)["status"] == "done"
    first.close()
    second.close()


def test_a_model_for_a_painter_without_models_or_a_server_without_a_library_is_refused(tmp_path):
    from serving import FlatPainter

    server = Server(tmp_path / "data", painters={"flat": FlatPainter()})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("astronaut", 256)))[0] == 201
        client = server.socket("default")
        assert client.welcome["models"] == [] and client.welcome["loras"] == []
        assert _inpaint(client, "m", expect="error", model="sd15")["code"] == "bad_params"
        assert client.ask({"type": "rescan"})["code"] == "no_library"
        assert server.http("POST", "/api/models/rescan")[0] == 409
        client.close()
    finally:
        server.stop()
