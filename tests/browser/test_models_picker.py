"""The models library in the browser (issue 21): the model picker and the LoRA picker drive
real jobs on a server built as `boundless serve --painter diffusion --model sd15 --models
FOLDER` builds it (tiny SD 1.x checkpoints and a tiny LoRA in an A1111 folder); the
LoRA tags in the prompt are the picker's truth; a rescan shows what was added, to every
viewer; a model of another family shows that family's settings."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from browsing import COVERED, CUT_SELECTS, TIMEOUT
from serving import Server, decode

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from library_folders import small_a1111_folder, tiny  # noqa: E402, F401  the tiny fixture

FRAME = (0, 0, 256, 256)  # on an empty canvas: a diffusion painter paints it from the prompt alone
# The bar's texts as they change (a model loads in a moment: caught as it happens, not polled).
WATCH_BAR = """() => { window.barTexts = []; window.barDetails = [];
    const bar = (id, seen) => new MutationObserver(() => seen.push(document.getElementById(id).textContent))
        .observe(document.getElementById(id), {childList: true, characterData: true, subtree: true});
    bar("job-text", window.barTexts); bar("job-detail", window.barDetails); }"""


def serve_models(data: Path, folder: Path, model: str = "sd15") -> Server:
    """A server as `boundless serve --painter diffusion --model MODEL --models FOLDER --dtype
    fp32 --offline` builds one (its painter and the server each scan the folder), in this process."""
    from canvas.cli.arguments import build_parser
    from canvas.cli.models import open_library
    from canvas.cli.painting import painter_options
    from canvas.painters import load_painters

    args = build_parser().parse_args(["serve", "--data", str(data), "--painter", "diffusion", "--model", model,
                                      "--models", str(folder), "--dtype", "fp32", "--offline"])
    painters = load_painters(args.painter, painter_options(args, args.painter))
    return Server(data, painters=painters, library=open_library(args.models))


@pytest.fixture
def served(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("BOUNDLESS_CACHE_DIR", str(tmp_path / "cache"))  # the scan cache: not the user's
    folder = small_a1111_folder(tiny, tmp_path / "webui")
    server = serve_models(tmp_path / "data", folder)
    try:
        yield server, folder
    finally:
        server.stop()


def paint_frame(page, server, rev: int) -> tuple[dict, np.ndarray]:
    """Generate at FRAME; the revision's params once it is in the history, and the pixels."""
    page.evaluate("(box) => window.boundless.frame.set(new window.boundless.bounds.constructor(...box))", list(FRAME))
    page.click("#generate")
    page.wait_for_function(f"() => document.querySelector(\"#history li[data-rev='{rev}']\") || document.querySelector('.toast.bad')",
                           timeout=60_000)
    failed = page.locator(".toast.bad").all_inner_texts()
    assert failed == [], failed
    page.wait_for_function("() => !window.boundless.jobs.busy", timeout=TIMEOUT)
    revision = next(r for r in server.state.canvases.store("default").history() if r.id == rev)
    x, y, w, h = FRAME
    status, _, body = server.http("GET", f"/api/canvases/default/export.png?x={x}&y={y}&w={w}&h={h}")
    assert status == 200
    return revision.params, decode(body)


def test_the_pickers_choose_the_model_and_loras_of_real_jobs(open_page, served, shots: Path):
    server, folder = served
    page = open_page(server)
    page.evaluate(WATCH_BAR)
    # Shown for the diffusion painter of a server with a library: the server's model first,
    # then each model under its family; the LoRAs that fit.
    assert page.is_visible("#model") and page.is_visible("#rescan") and page.is_visible("#lora-add")
    assert page.input_value("#model") == ""
    assert page.locator("#model option").all_inner_texts() == ["the server's model", "sd15", "sd15-plain"]
    assert page.locator("#model optgroup").evaluate_all("(groups) => groups.map((g) => g.label)") == ["SD 1.x"]
    assert re.fullmatch(r"sd15-plain · SD 1\.x · [\d.]+ (KB|MB)", page.get_attribute("#model option[value='sd15-plain']", "title"))
    assert page.locator("#lora-add option").all_inner_texts() == ["Add a LoRA…", "ink"]
    assert page.evaluate(CUT_SELECTS) == [] and page.evaluate(COVERED, "#models") == []

    page.fill("#prompt", "a lighthouse")
    page.fill("#steps", "2")
    page.fill("#seed", "7")
    default_params, default_pixels = paint_frame(page, server, 1)
    assert default_params["model"] == "sd15" and "loras" not in default_params
    page.click("#undo")
    page.wait_for_function("() => window.boundless.head === 0", timeout=TIMEOUT)

    # The second model, for the same frame and seed: it loads (the job bar says so), paints,
    # and the history names it.
    page.select_option("#model", "sd15-plain")
    params, pixels = paint_frame(page, server, 2)
    assert params["model"] == "sd15-plain" and params["family"] == "sd1" and params["seed"] == 7
    assert np.abs(pixels[..., :3].astype(int) - default_pixels[..., :3]).max() > 10  # another model's picture
    assert "Loading model sd15-plain…" in page.evaluate("() => window.barTexts")
    # beside it, the size being read and the seconds it has taken so far
    size = page.evaluate("(name) => window.boundless.models.sizeOf(name)", "sd15-plain")
    assert size.endswith((" KB", " MB")) and f"{size} · 0 s" in page.evaluate("() => window.barDetails")
    assert "model sd15-plain" in page.inner_text("#history li[data-rev='2']")
    page.screenshot(path=str(shots / "models-picked.png"))

    # A LoRA from the picker, at 0.5: the prompt says so, and the job records it.
    page.click("#undo")
    page.wait_for_function("() => window.boundless.head === 0", timeout=TIMEOUT)
    page.select_option("#lora-add", "ink")
    page.click("#lora-add-button")
    assert page.input_value("#prompt") == "a lighthouse <lora:ink:1>"
    page.fill("input[aria-label='Weight of ink']", "0.5")
    assert page.input_value("#prompt") == "a lighthouse <lora:ink:0.5>"
    assert page.locator("#lora-add option").all_inner_texts() == ["all of them added"]
    assert page.evaluate(CUT_SELECTS) == [] and page.evaluate(COVERED, "#models") == []
    params, lora_pixels = paint_frame(page, server, 3)
    assert params["model"] == "sd15-plain" and params["prompt"] == "a lighthouse <lora:ink:0.5>"
    assert list(params["loras"]) == ["ink"] and (lora_pixels != pixels).any()
    assert "LoRA ink" in page.inner_text("#history li[data-rev='3']")
    page.screenshot(path=str(shots / "models-lora.png"))

    # The choice stays across a reload, per painter, with the LoRA in the prompt.
    page.reload()
    page.wait_for_function("() => window.boundless && window.boundless.conn.isOpen && document.querySelector('#model option[value=\"sd15-plain\"]')", timeout=TIMEOUT)
    assert page.input_value("#model") == "sd15-plain"
    assert page.input_value("input[aria-label='Weight of ink']") == "0.5"

    # A model copied into the folder: a rescan lists it, for every viewer.
    other = open_page(server)
    shutil.copytree(folder / "models" / "Stable-diffusion" / "sd15-plain", folder / "models" / "Stable-diffusion" / "added")
    page.click("#rescan")
    for viewer in (page, other):
        viewer.wait_for_selector("#model option[value='added']", state="attached", timeout=TIMEOUT)
    assert page.input_value("#model") == "sd15-plain"  # the choice stays
    # The new model paints (the painter scans the folders itself, as under `serve`).
    page.select_option("#model", "added")
    page.click("#undo")
    page.wait_for_function("() => window.boundless.head === 0", timeout=TIMEOUT)
    params, _ = paint_frame(page, server, 4)
    assert params["model"] == "added"
    assert page.errors == [] and other.errors == []


def test_tags_typed_in_the_prompt_are_the_pickers_rows(open_page, served):
    server, _ = served
    page = open_page(server)
    rows = "() => [...document.querySelectorAll('#loras li')].map((li) => [li.querySelector('.lora-name').textContent, li.querySelector('input').value, li.classList.contains('problem')])"
    # Typed by hand, A1111's ways: a weight, none (1), TE and UNet, a name the library lacks.
    page.fill("#prompt", "<lora:ink:0.8> a harbour, <lyco:ghost>, boats <lora:ink:0.3:0.6>, night")
    assert page.evaluate(rows) == [["ink", "0.8", False], ["ghost", "1", True], ["ink", "0.3", False]]
    assert page.locator("#lora-add option").all_inner_texts() == ["all of them added"]  # ink is in
    # A weight edit rewrites its own tag only (the second ink, by its row), as one weight.
    page.locator("#loras li").nth(2).locator("input").fill("1.25")
    assert page.input_value("#prompt") == "<lora:ink:0.8> a harbour, <lyco:ghost>, boats <lora:ink:1.25>, night"
    page.locator("#loras li").nth(0).locator("input").press("ArrowUp")  # the step: 0.05
    assert page.input_value("#prompt") == "<lora:ink:0.85> a harbour, <lyco:ghost>, boats <lora:ink:1.25>, night"
    # Removing takes out that tag only, and the space or comma it leaves doubled.
    page.click("button[aria-label='Remove ghost']")
    assert page.input_value("#prompt") == "<lora:ink:0.85> a harbour, boats <lora:ink:1.25>, night"
    page.locator("#loras li").nth(0).locator("button").click()
    assert page.input_value("#prompt") == "a harbour, boats <lora:ink:1.25>, night"
    assert page.evaluate(rows) == [["ink", "1.25", False]]
    # A weight that is no number is shown as a problem, and a weight typed in mends it.
    page.fill("#prompt", "a harbour <lora:ink:much>")
    assert page.evaluate(rows) == [["ink", "", True]]
    page.locator("#loras li input").fill("0.5")
    assert page.input_value("#prompt") == "a harbour <lora:ink:0.5>"
    # Keyboard only: pick, add (Enter), the weight input has the focus, type, remove with Enter.
    page.fill("#prompt", "a harbour")
    page.focus("#lora-add")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.input_value("#prompt") == "a harbour <lora:ink:1>"
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Weight of ink"
    page.keyboard.press("Control+A")
    page.keyboard.type("0.75")
    assert page.input_value("#prompt") == "a harbour <lora:ink:0.75>"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.input_value("#prompt") == "a harbour"
    assert page.errors == []


def test_a_model_of_another_family_shows_its_settings_and_loras(open_page, tmp_path, tiny, tmp_path_factory, monkeypatch):
    # A tiny FLUX.1 Fill beside the SD 1.x models: chosen, the panel shows what a job naming
    # it gets (welcome.families: 50 steps at guidance 30, no negative prompt, a 1024 window)
    # and no SD LoRA; what the user typed wins. Nothing paints: the picker alone is tested.
    from tiny_families import FAMILY_KINDS, TinyFamilies

    if "flux-fill" not in FAMILY_KINDS:
        pytest.skip("no tiny FLUX.1 Fill")
    monkeypatch.setenv("BOUNDLESS_CACHE_DIR", str(tmp_path / "cache"))
    folder = small_a1111_folder(tiny, tmp_path / "webui")
    shutil.copytree(TinyFamilies.shared(tmp_path_factory).folder("flux-fill"), folder / "models" / "Stable-diffusion" / "fill")
    server = serve_models(tmp_path / "data", folder)
    try:
        page = open_page(server)
        groups = "() => [...document.querySelectorAll('#model optgroup')].map((g) => [g.label, [...g.children].map((o) => o.value)])"
        assert page.evaluate(groups) == [["SD 1.x", ["sd15", "sd15-plain"]], ["FLUX.1 Fill", ["fill"]]]

        def sampling() -> tuple:
            return (page.input_value("#steps"), page.input_value("#guidance"), page.input_value("#window"),
                    page.is_visible("#negative"))

        assert sampling() == ("25", "7", "512", True)
        assert page.locator("#lora-add option").all_inner_texts() == ["Add a LoRA…", "ink"]
        page.select_option("#model", "fill")
        assert sampling() == ("50", "30", "1024", False)
        assert page.locator("#lora-add option").all_inner_texts() == ["none fits this model"]
        params = page.evaluate("() => window.boundless.panel.params()")
        assert params["model"] == "fill" and params["steps"] == 50 and "negative_prompt" not in params
        page.select_option("#model", "sd15-plain")
        assert sampling() == ("25", "7", "512", True)
        page.fill("#steps", "3")  # typed: it stays, whichever model
        page.select_option("#model", "fill")
        assert sampling() == ("3", "30", "1024", False)
        # A saved name the server no longer lists: the server's model, which sends none.
        page.evaluate("""() => { const saved = JSON.parse(localStorage.getItem("boundless.settings"));
            localStorage.setItem("boundless.settings", JSON.stringify({...saved, "diffusion:model": "gone"})); }""")
        page.reload()
        page.wait_for_function("() => window.boundless && document.querySelector('#model option[value=\"fill\"]')", timeout=TIMEOUT)
        assert page.input_value("#model") == "" and "model" not in page.evaluate("() => window.boundless.panel.params()")
        assert page.evaluate(CUT_SELECTS) == [] and page.evaluate(COVERED, "#models") == []
        # Reset: the server's model and its family's defaults.
        page.select_option("#model", "fill")
        page.click("#reset-settings")
        assert page.input_value("#model") == "" and sampling() == ("25", "7", "512", True)
        assert page.errors == []
    finally:
        server.stop()


PROMPTS = ["a <lora:ink> b", "<lora:ink:0.5>", "<lora: styles/ink :0.5>, x", "<lyco:x:0.3:0.7>", "<lora:x:te=0.2:unet=0.4>",
           "<lora:x:0.5:dyn=4>", "<lora:x: 1e-1 >", "<LORA:x:1> <lora:x:1", "<lora:a:1><lora:b:-2>", "<lora:x:unet=0.25>",
           "<lora:x:much>", "<lora::1>", "<lora:x:11>", "<lora:x:>", "<lora:x:inf>"]


def test_the_client_reads_tags_as_the_server_does(open_page, tmp_path):
    # lora_tags.js mirrors canvas/painters/diffusion/lora_tags.py: the same tags, names and
    # weights, and an error where the server has one.
    from canvas.painters.diffusion.lora_tags import TAG, LoraTagError, parse_lora_tags

    server = Server(tmp_path / "data")
    try:
        page = open_page(server)
        read = page.evaluate("""async (prompts) => { const { loraTags } = await import("/lora_tags.js");
            return prompts.map((p) => loraTags(p).map((t) => [t.name, t.te, t.unet, Boolean(t.error)])); }""", PROMPTS)
        for prompt, tags in zip(PROMPTS, read, strict=True):
            expected = []
            for match in TAG.finditer(prompt):  # each tag alone, as the server reads it
                try:
                    (tag,) = parse_lora_tags(match.group(0)).loras
                    expected.append([tag.name, tag.te, tag.unet, False])
                except LoraTagError:
                    expected.append([None, None, None, True])
            assert [t if not t[3] else [None, None, None, True] for t in tags] == expected, prompt
    finally:
        server.stop()
