"""The panel per painter: each painter shows only the settings it uses, with its own
defaults; switching painters shows and hides them, and what was typed stays per painter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from browsing import TIMEOUT, reload
from serving import FillLikePainter, Server, TintPainter, png

SETTINGS = {"prompt": "#prompt", "negative_prompt": "#negative", "steps": "#steps", "guidance": "#guidance", "strength": "#strength"}


def shown(page) -> set[str]:
    """The settings whose control and label are both visible."""
    return {key for key, css in SETTINGS.items()
            if page.is_visible(css) and page.is_visible(f"label[for='{css[1:]}']")}


def sent_params(page, kind: str) -> str:
    page.wait_for_function(f"() => window.sent.some((m) => m.includes('\"{kind}\"'))", timeout=TIMEOUT)
    found = [m for m in page.evaluate("() => window.sent") if f'"{kind}"' in m]
    page.evaluate("() => { window.sent = []; }")
    return found[0]


def test_each_painter_shows_what_it_uses_with_its_defaults_and_keeps_what_was_typed(open_page, tmp_path: Path, shots: Path):
    from canvas.painters import load_painters

    server = Server(tmp_path / "data", painters={"fill": FillLikePainter(), **load_painters(["patchmatch"]), "tint": TintPainter()})
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(np.full((256, 256, 3), 120, np.uint8)))[0] == 201
        page = open_page(server)
        page.evaluate("() => { const ws = window.boundless.conn.socket, send = ws.send.bind(ws); window.sent = [];"
                      " ws.send = (d) => { if (typeof d === 'string') window.sent.push(d); send(d); }; }")
        # The painters by their labels; the first served, a FLUX.1 Fill look-alike: no negative
        # prompt, no strength, 50 steps at guidance 30.
        assert page.locator("#painter option").all_inner_texts() == ["FLUX.1 Fill · tiny", "PatchMatch", "tint"]
        assert page.input_value("#painter") == "fill"
        assert shown(page) == {"prompt", "steps", "guidance"}
        assert page.input_value("#steps") == "50" and page.input_value("#guidance") == "30"
        page.screenshot(path=str(shots / "panel-fill.png"))

        page.select_option("#painter", "patchmatch")
        assert shown(page) == set() and page.is_visible("#painter-options input")  # its patch size only
        assert not page.is_visible("#zoom-schedule") and not page.is_visible("#grow-prompts")  # prompts too
        page.screenshot(path=str(shots / "panel-patchmatch.png"))
        page.select_option("#painter", "tint")  # says nothing: shown everything, at 25, 7 and 1
        assert shown(page) == set(SETTINGS) and page.is_visible("#zoom-schedule")
        assert (page.input_value("#steps"), page.input_value("#guidance"), page.input_value("#strength")) == ("25", "7", "1")

        # Typed values are the painter's own: away and back, they are still there.
        page.fill("#steps", "12")
        page.fill("#prompt", "a harbour")
        page.select_option("#painter", "fill")
        assert page.input_value("#steps") == "50" and page.input_value("#prompt") == "a harbour"  # one prompt for all
        page.fill("#steps", "40")
        page.fill("#guidance", "3.5")
        page.select_option("#painter", "tint")
        assert page.input_value("#steps") == "12" and page.input_value("#guidance") == "7"
        page.select_option("#painter", "fill")
        assert page.input_value("#steps") == "40" and page.input_value("#guidance") == "3.5"

        # A job sends what its painter uses, and nothing it does not.
        page.click(".expand[data-side='right']")
        sent = sent_params(page, "expand")
        assert '"painter":"fill"' in sent and '"steps":40' in sent and '"guidance":3.5' in sent and '"prompt":"a harbour"' in sent, sent
        assert '"strength"' not in sent and '"negative_prompt"' not in sent, sent
        page.wait_for_selector("#job-bar", state="hidden", timeout=TIMEOUT)
        page.select_option("#painter", "patchmatch")
        page.click(".expand[data-side='down']")
        sent = sent_params(page, "expand")
        assert '"painter":"patchmatch"' in sent and not any(f'"{key}"' in sent for key in SETTINGS), sent
        page.wait_for_selector("#job-bar", state="hidden", timeout=TIMEOUT)

        # After a reload: the painter chosen, and each painter's typed values.
        reload(page)
        assert page.input_value("#painter") == "patchmatch" and shown(page) == set()
        page.select_option("#painter", "fill")
        assert page.input_value("#steps") == "40" and page.input_value("#guidance") == "3.5"
        page.select_option("#painter", "tint")
        assert page.input_value("#steps") == "12"
        # Reset: the server's first painter, and every painter back at its own defaults.
        page.click("#reset-settings")
        assert page.input_value("#painter") == "fill" and page.input_value("#steps") == "50"
        page.select_option("#painter", "tint")
        assert page.input_value("#steps") == "25"
        assert page.errors == []
    finally:
        server.stop()


def test_a_flux_fill_painter_shows_its_family_and_paints_a_frame(open_page, tmp_path_factory, shots: Path):
    # A tiny FLUX.1 Fill (tests/tiny_families.py) served beside PatchMatch, as
    # `serve --painter diffusion --model FOLDER --painter patchmatch` does.
    pytest.importorskip("diffusers")
    from canvas.painters import load_painters
    from serving import decode
    from tiny_families import FAMILY_KINDS, TinyFamilies

    if "flux-fill" not in FAMILY_KINDS:
        pytest.skip("no tiny FLUX.1 Fill")
    tiny = TinyFamilies.shared(tmp_path_factory)
    server = Server(tmp_path_factory.mktemp("fill-data"), painters={"diffusion": tiny.painter("flux-fill"),
                                                                     **load_painters(["patchmatch"])})
    try:
        photo = np.full((256, 256, 3), 120, np.uint8)
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo))[0] == 201
        page = open_page(server)
        assert page.locator("#painter option").all_inner_texts() == ["FLUX.1 Fill · flux-fill", "PatchMatch"]
        assert page.input_value("#painter") == "diffusion"
        assert "negative_prompt" not in shown(page) and {"prompt", "steps", "guidance"} <= shown(page)
        assert page.input_value("#steps") == "50" and page.input_value("#guidance") == "30"
        page.fill("#steps", "2")  # a quick job; the guidance stays the family's 30
        page.fill("#prompt", "a harbour")
        page.evaluate("() => window.boundless.frame.set(new window.boundless.bounds.constructor(128, 0, 512, 512))")
        page.click("#generate")
        entry = page.locator("#history li:has-text('family flux-fill')")
        entry.wait_for(timeout=60_000)
        page.wait_for_function("() => !window.boundless.jobs.busy", timeout=60_000)
        text = entry.inner_text()
        assert "frame" in text and "painter diffusion" in text and "steps 2" in text, text
        page.screenshot(path=str(shots / "panel-flux-fill-painted.png"))
        status, _, body = server.http("GET", "/api/canvases/default/export.png?x=128&y=0&w=512&h=512")
        painted = decode(body)
        assert status == 200 and (painted[..., 3] == 255).all() and painted[:, 256:, :3].std() > 0
        client = server.socket()
        params = client.ask({"type": "history"})["revisions"][-1]["params"]
        client.close()
        assert params["family"] == "flux-fill" and params["model"] == str(tiny.folder("flux-fill"))
        assert (params["steps"], params["guidance"]) == (2, 30.0) and params["prompt"] == "a harbour"
        assert page.errors == []
    finally:
        server.stop()


def test_coarse_to_fine_from_the_panel_paints_a_big_expansion_and_is_recorded(open_page, tmp_path: Path, shots: Path):
    # "Big regions": tiles by default, the refine strength hidden; chosen coarse, it shows
    # for PatchMatch too (it refines through its guide), a job sends both, and they stay.
    from canvas.painters import load_painters
    from pictures import photo
    from serving import decode

    server = Server(tmp_path / "data", painters=load_painters(["patchmatch"]))
    try:
        assert server.http("POST", "/api/canvases/default/upload?x=0&y=0", png(photo("coffee", 256)))[0] == 201
        page = open_page(server)
        page.evaluate("() => { const ws = window.boundless.conn.socket, send = ws.send.bind(ws); window.sent = [];"
                      " ws.send = (d) => { if (typeof d === 'string') window.sent.push(d); send(d); }; }")
        assert page.input_value("#strategy") == "tiles"
        assert not page.is_visible("#refine-strength") and not page.is_visible("label[for='refine-strength']")
        page.select_option("#strategy", "auto")
        assert page.is_visible("#refine-strength") and page.is_visible("label[for='refine-strength']")
        assert page.input_value("#refine-strength") == "0.7"  # the server's default
        page.select_option("#strategy", "coarse")
        page.fill("#refine-strength", "0.5")
        page.fill("#expand-by", "768")  # 256 px grown down by 768: three windows at level 0
        page.screenshot(path=str(shots / "panel-coarse.png"))
        page.click(".expand[data-side='down']")
        sent = sent_params(page, "expand")
        assert '"strategy":"coarse"' in sent and '"refine_strength":0.5' in sent, sent
        entry = page.locator("#history li:has-text('strategy coarse')")
        entry.wait_for(timeout=60_000)
        page.wait_for_function("() => !window.boundless.jobs.busy", timeout=60_000)
        assert "expand" in entry.inner_text() and "painter patchmatch" in entry.inner_text()

        store = server.state.canvases.store("default")
        revision = store.history()[-1]
        assert (revision.kind, revision.params["strategy"], revision.params["refine_strength"]) == ("expand", "coarse", 0.5)
        assert max(store.authored_bounds()) >= 1  # a coarse stage painted above level 0
        status, _, body = server.http("GET", "/api/canvases/default/export.png?x=0&y=0&w=256&h=1024")
        painted = decode(body)
        assert status == 200 and painted.shape[:2] == (1024, 256) and (painted[..., 3] == 255).all()  # every target pixel
        assert painted[256:, :, :3].std() > 5  # a picture, not a flat fill

        # Kept across a reload; back to tiles, the refine strength hides and is not sent.
        reload(page)
        assert page.input_value("#strategy") == "coarse" and page.input_value("#refine-strength") == "0.5"
        assert page.is_visible("#refine-strength")
        page.select_option("#strategy", "tiles")
        assert not page.is_visible("#refine-strength")
        params = page.evaluate("() => window.boundless.panel.params()")
        assert params["strategy"] == "tiles" and "refine_strength" not in params, params
        assert page.errors == []
    finally:
        server.stop()
