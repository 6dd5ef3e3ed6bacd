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
    _embedding(folder / "models" / "embeddings" / "glow.safetensors")
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


def _embedding(path, seed: int = 2) -> None:
    """A tiny SD 1.x textual inversion (A1111's .safetensors: one tensor), two vectors."""
    import torch
    from safetensors.torch import save_file
    from tiny_models import TEXT_HIDDEN

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": torch.randn(2, TEXT_HIDDEN, generator=torch.Generator().manual_seed(seed))}, str(path))


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


def test_a_job_cancelled_while_its_model_loads_ends_at_once_and_the_load_serves_the_others(served):
    """Cancel ends the job while the load is still held (not after it), commits nothing;
    the job on the other canvas waiting for the same load is not cancelled with it, nor is
    a job whose client went away (jobs outlive their client: session.py); the model loads
    once, into the cache."""
    server, painter, gate, _ = served
    mine, theirs, watcher = server.socket("default"), server.socket("other"), server.socket("other")
    cancelled = _inpaint(mine, "a1", model="tiny-xl")["job"]
    assert mine.next("job.loading", job=cancelled)["loaded"] is False
    waiting = _inpaint(theirs, "b1", model="tiny-xl")["job"]
    assert watcher.next("job.loading", job=waiting)["loaded"] is False
    theirs.close()  # its client leaves: the job carries on for the canvas's other viewers
    assert mine.ask({"type": "cancel", "job": cancelled})["type"] == "ok"
    assert mine.next("job.done", job=cancelled, timeout=30)["status"] == "cancelled"
    assert not gate.is_set() and "tiny-xl" not in painter.cache  # it ended while the model was still loading
    assert not any(m["type"] == "job.loading" and m["job"] == cancelled and m["loaded"] for m in mine.seen)
    store = server.state.canvases.store("default")
    [upload, revision] = store.history()
    assert revision.status == "cancelled" and revision.info["windows"] == 0
    assert {rev for _, _, rev in store.painted_tiles(0, store.bounds(0))} == {upload.id}  # no window committed
    assert [job.id for job in server.state.queue.jobs()] == [waiting]
    gate.set()
    assert watcher.next("job.loading", job=waiting, timeout=120)["loaded"] is True
    assert watcher.next("job.done", job=waiting, timeout=120)["status"] == "done"
    assert painter.cache.loads == 2  # the default model, and tiny-xl once for both jobs
    # The next job on the cancelled canvas finds it loaded: no wait, no load.
    again = _inpaint(mine, "a2", model="tiny-xl")["job"]
    assert mine.next("job.done", job=again, timeout=120)["status"] == "done"
    assert painter.cache.loads == 2 and not any(m["type"] == "job.loading" and m["job"] == again for m in mine.seen)
    mine.close()
    watcher.close()


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


@pytest.mark.parametrize("message, code", [
    ({"type": "grow", "aspect": 2, "prompts": ["a field", "a path <lora:xl-ink:1>"]}, "bad_lora"),  # SDXL's, on SD 1.x
    ({"type": "grow", "preset": "full-body", "prompts": ["legs <lora:nothing:1>"]}, "unknown_lora"),
    ({"type": "grow", "aspect": 2, "prompts": ["a path <lora:ink:x>"]}, "bad_lora"),
    ({"type": "zoomout", "x": 0, "y": 0, "w": 256, "h": 256, "steps": 2, "schedule": {"2": "hills <lora:xl-ink>"}},
     "bad_lora"),
    ({"type": "zoomout", "x": 0, "y": 0, "w": 256, "h": 256, "steps": 2, "schedule": {"1": "<lora:../ink:1>"}},
     "bad_name"),
    ({"type": "zoomout", "x": 0, "y": 0, "w": 256, "h": 256, "steps": 2, "schedule": {"2": "<lora:ink:1>"},
      "params": {"model": "tiny-xl"}}, "bad_lora"),  # an SD 1.x LoRA on the SDXL model the job names
])
def test_a_bad_lora_in_any_stage_prompt_is_refused_before_anything_is_queued(served, message, code):
    server, _, _, _ = served
    client = server.socket("default")
    answer = client.ask(message)
    assert (answer["type"], answer.get("code")) == ("error", code), answer
    assert "\n" not in answer["message"] and server.state.queue.jobs() == []
    assert not any(m["type"] == "job.queued" for m in client.seen)
    assert len(server.state.canvases.store("default").history()) == 1  # the upload alone
    client.close()


def test_a_lora_in_a_grow_stage_prompt_paints_and_is_recorded(served):
    server, _, _, folder = served
    client = server.socket("default")
    job = client.ask({"type": "grow", "aspect": 0.5, "prompts": ["a field", "a path <lora:ink:0.5>"],
                      "params": {"steps": 2, "seed": 1}})["job"]
    assert client.next("job.done", job=job, timeout=120)["status"] == "done"
    params = client.ask({"type": "history"})["revisions"][-1]["params"]
    # Two stages downwards, the second's prompt with the LoRA: recorded with A1111's hash.
    from canvas.library.hashes import addnet_sha256

    assert params["prompt"] == "a field" and params["stage_prompts"] == ["a field", "a path <lora:ink:0.5>"]
    assert params["loras"] == {"ink": addnet_sha256(folder / "models" / "loras" / "ink.safetensors")[:12]}
    client.close()


def test_the_librarys_embeddings_are_used_by_name_and_recorded_with_a1111s_hash(served, tmp_path):
    """An embedding in the models folder (ComfyUI's models/embeddings) needs no --embeddings:
    the painter loads it, a prompt names it, and the history and the exported PNG carry its hash."""
    import hashlib

    from PIL import Image

    server, painter, _, folder = served
    assert "glow" in painter.painter_for(None).embeddings.loaded
    client = server.socket("default")
    plain = _inpaint(client, "plain", prompt="a lake")["job"]
    named = _inpaint(client, "named", prompt="a lake", negative_prompt="glow")["job"]
    for job in (plain, named):
        assert client.next("job.done", job=job, timeout=120)["status"] == "done"
    store = server.state.canvases.store("default")
    *_, without, with_it = store.history()
    digest = hashlib.sha256((folder / "models" / "embeddings" / "glow.safetensors").read_bytes()).hexdigest()[:12]
    assert "embeddings" not in without.params and with_it.params["embeddings"] == {"glow": digest}
    store.export_png(0, store.bounds(0), tmp_path / "named.png")
    assert f'TI hashes: "glow: {digest}"' in Image.open(tmp_path / "named.png").text["parameters"]
    client.close()


def test_an_embedding_added_to_the_folder_is_used_after_a_rescan(served):
    import hashlib

    server, painter, _, folder = served
    client = server.socket("default")
    path = folder / "models" / "embeddings" / "new" / "spark.safetensors"
    _embedding(path, seed=3)
    assert client.ask({"type": "rescan"})["type"] == "ok"
    job = _inpaint(client, "spark", prompt="a lake, spark")["job"]
    assert client.next("job.done", job=job, timeout=120)["status"] == "done"
    # The loaded model took it before painting (no reload), and the record names it.
    loaded = painter.painter_for(None).embeddings
    assert "spark" in loaded.loaded and not any("already" in why for _, why in loaded.skipped)
    params = server.state.canvases.store("default").history()[-1].params
    assert params["embeddings"] == {"spark": hashlib.sha256(path.read_bytes()).hexdigest()[:12]}
    assert painter.cache.loads == 1
    client.close()
