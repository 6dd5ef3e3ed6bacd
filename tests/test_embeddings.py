"""Textual-inversion embeddings (A1111's files) on tiny SD and SDXL models: the files are
built here in each format A1111 reads, loaded from a folder once per painter, used by
their file name in a prompt; those of another family are skipped with a warning."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from safetensors.torch import save_file  # noqa: E402

from canvas.cli.main import main  # noqa: E402
from canvas.painters import CancelToken, PaintRequest, create_painter  # noqa: E402
from canvas.painters.diffusion import DiffusionSettings, ModelError  # noqa: E402
from canvas.painters.diffusion.prompts import encode  # noqa: E402
from canvas.store import Store  # noqa: E402
from tiny_models import TEXT_HIDDEN, TEXT_HIDDEN_2, TinyModels  # noqa: E402


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """An A1111 `embeddings/` folder: SD 1.x files in both .pt forms and as .safetensors, an
    SDXL file, one in a subfolder, and files that are no embeddings."""
    root = tmp_path_factory.mktemp("embeddings")
    generator = torch.Generator().manual_seed(5)

    def vectors(n, width=TEXT_HIDDEN):
        return torch.randn(n, width, generator=generator)

    # A1111's own .pt: the name inside is not the one a prompt uses; the file's is.
    torch.save({"string_to_token": {"*": torch.tensor(265)}, "string_to_param": {"*": vectors(3)},
                "name": "something-else", "step": 1500, "sd_checkpoint_name": "v1-5"}, root / "Shiny.pt")
    torch.save({"emb_params": vectors(1)}, root / "plain.pt")
    (root / "more").mkdir()
    save_file({"emb_params": vectors(2)}, str(root / "more" / "fuzzy.safetensors"))
    save_file({"clip_l": vectors(2), "clip_g": vectors(2, TEXT_HIDDEN_2)}, str(root / "glossy-xl.safetensors"))
    (root / "notes.pt").write_bytes(b"not a pickle")
    save_file({"lora_unet_down.lora_down.weight": vectors(4), "lora_unet_down.lora_up.weight": vectors(4)},
              str(root / "a-lora.safetensors"))  # misplaced: told apart by its header
    (root / "readme.txt").write_text("ignored: not an embedding file")
    return root


@pytest.fixture(scope="module")
def sd(models, folder):
    return create_painter("diffusion", model=str(models.folder("sd")), dtype="fp32", offline=True, embeddings=(str(folder),))


def token_ids(painter, prompt: str, tokenizer: str = "tokenizer") -> list[int]:
    return getattr(painter.model.pipeline, tokenizer)(prompt, add_special_tokens=False)["input_ids"]


def test_a_folder_of_embeddings_loads_what_fits_the_model_and_skips_the_rest(sd, folder):
    loaded = sd.embeddings.loaded
    assert {e.name: e.vectors for e in loaded.values()} == {"Shiny": 3, "plain": 1, "fuzzy": 2}
    skipped = {path.name: reason for path, reason in sd.embeddings.skipped}
    assert skipped.keys() == {"glossy-xl.safetensors", "notes.pt", "a-lora.safetensors"}
    assert "an SDXL embedding" in skipped["glossy-xl.safetensors"] and "cannot read it" in skipped["notes.pt"]
    assert skipped["a-lora.safetensors"] == "not a textual-inversion embedding"
    # The tokenizer knows each name (case-blind) and the text encoder holds the file's vectors.
    saved = torch.load(folder / "Shiny.pt", weights_only=True)["string_to_param"]["*"]
    [first] = token_ids(sd, "SHINY")
    rows = sd.model.pipeline.text_encoder.get_input_embeddings().weight[first : first + 3]
    assert torch.equal(rows, saved)


def test_an_embeddings_name_in_the_prompt_changes_the_encoding(sd):
    model = sd.model
    with torch.inference_mode():
        plain = encode(model, "a red house", "", False).embeds
        named = encode(model, "a red house, shiny", "", False).embeds
        assert not torch.equal(plain, named)
        # As A1111 reads names: case-blind, weighted like any word, in the negative prompt too.
        assert torch.equal(encode(model, "a red house, Shiny", "", False).embeds, named)
        assert not torch.equal(encode(model, "a red house, (shiny:1.3)", "", False).embeds, named)
        assert not torch.equal(encode(model, "a", "plain", True).embeds, encode(model, "a", "", True).embeds)
        # Its three vectors, written out, as diffusers' own pipeline writes them.
        ours = encode(model, "a red house, shiny", "fuzzy", True).embeds
        theirs = torch.cat(model.pipeline.encode_prompt("a red house, shiny", model.device, 1, True, negative_prompt="fuzzy")[::-1])
        assert torch.equal(ours, theirs)


def test_a_multi_vector_embedding_takes_its_tokens_in_the_chunk(sd):
    from canvas.painters.diffusion.text_encoding import _Encoder

    pipeline = sd.model.pipeline
    [chunk] = _Encoder(pipeline.tokenizer, pipeline.text_encoder, False).chunks("a shiny")
    [a] = token_ids(sd, "a")
    [shiny] = token_ids(sd, "shiny")
    assert chunk.tokens[:6] == [pipeline.tokenizer.bos_token_id, a, shiny, shiny + 1, shiny + 2, pipeline.tokenizer.eos_token_id]


def test_sdxl_loads_its_own_embeddings_into_both_encoders_and_skips_sd1_ones(models, folder, caplog):
    with caplog.at_level(logging.WARNING, logger="canvas.painters.diffusion.embeddings"):
        xl = create_painter("diffusion", model=str(models.folder("sdxl")), dtype="fp32", offline=True,
                            embeddings=(str(folder),))
    assert list(xl.embeddings.loaded) == ["glossy-xl"]
    skipped = {path.name: reason for path, reason in xl.embeddings.skipped}
    assert all("an SD 1.x/2.x embedding; this model is SDXL" in skipped[name] for name in ("Shiny.pt", "plain.pt"))
    assert "Shiny.pt skipped: an SD 1.x/2.x embedding" in caplog.text
    from safetensors.torch import load_file

    saved = load_file(str(folder / "glossy-xl.safetensors"))
    pipeline = xl.model.pipeline
    for tokenizer, encoder, key in (("tokenizer", "text_encoder", "clip_l"), ("tokenizer_2", "text_encoder_2", "clip_g")):
        [first] = token_ids(xl, "glossy-xl", tokenizer)
        assert torch.equal(getattr(pipeline, encoder).get_input_embeddings().weight[first : first + 2], saved[key])
    with torch.inference_mode():
        named, plain = (encode(xl.model, prompt, "", True) for prompt in ("a glossy-xl car", "a car"))
    assert not torch.equal(named.embeds[1], plain.embeds[1]) and not torch.equal(named.pooled[1], plain.pooled[1])
    # The name in a plain prompt: both encoders' vectors, as diffusers' pipeline encodes it.
    embeds, _, pooled, _ = pipeline.encode_prompt("a glossy-xl car", device=xl.model.device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
    assert torch.equal(named.embeds[1:], embeds) and torch.equal(named.pooled[1:], pooled)


def test_an_explicit_file_loads_and_a_window_paints_with_it(models, folder):
    painter = create_painter("diffusion", model=str(models.folder("sd-inpaint")), dtype="fp32", offline=True,
                             embeddings=(str(folder / "plain.pt"), str(folder / "more" / "fuzzy.safetensors")))
    assert sorted(painter.embeddings.loaded) == ["fuzzy", "plain"] and not painter.embeddings.skipped
    image = np.full((512, 512, 3), 128, np.uint8)
    mask = np.zeros((512, 512), bool)
    mask[:, 256:] = True
    outs = []
    for prompt in ("a house", "a house, plain"):
        request = PaintRequest(prompt=prompt, negative_prompt="fuzzy", steps=2, guidance=5.0, seed=1)
        outs += painter.paint(image, mask, request, lambda p: None, CancelToken())
    assert not np.array_equal(outs[0], outs[1])


def test_the_prompt_cache_knows_which_embeddings_are_loaded(models, folder, tmp_path):
    painter = create_painter("diffusion", model=str(models.folder("sd")), dtype="fp32", offline=True)
    assert not painter.embeddings.loaded
    before = painter.prompts.get("a plain house", "", False)
    painter.embeddings.load(painter.model, [folder / "plain.pt"])  # later, a library may add some
    after = painter.prompts.get("a plain house", "", False)
    assert not torch.equal(before.embeds, after.embeds)
    assert painter.prompts.get("a plain house", "", False) is after
    # Loading it again changes nothing: the same name is loaded already.
    painter.embeddings.load(painter.model, [folder / "plain.pt"])
    assert "called 'plain' already" in painter.embeddings.skipped[-1][1]
    assert painter.prompts.get("a plain house", "", False) is after


def sha12(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def a1111_fields(parameters: str) -> dict[str, str]:
    """The last line of a `parameters` chunk as A1111's PNG Info reads it: `Key: value` pairs,
    a value in double quotes (JSON) holding commas and colons. sd-parsers splits every value
    at its colons and drops such fields (its A1111 parser keeps only `Hashes: {...}`)."""
    import json
    import re

    line = parameters.split("\n")[-1]
    pairs = re.findall(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)', line)
    return {key: json.loads(value) if value.startswith('"') else value for key, value in pairs}


def test_the_embeddings_a_job_names_are_in_its_exported_png_as_a1111_writes_them(models, folder, tmp_path, photo_file):
    from sd_parsers import ParserManager

    canvas, out = tmp_path / "work.canvas", tmp_path / "exported.png"
    common = ["--painter", "diffusion", "--model", str(models.folder("sd-inpaint")), "--offline", "--dtype", "fp32",
              "--embeddings", str(folder), "--steps", "2", "--guidance", "3", "--seed", "8", "-q"]
    assert main(["expand", str(photo_file), "--right", "64", "--canvas", str(canvas), *common,
                 "--prompt", "a harbour, SHINY", "--negative-prompt", "fuzzy, blurry"]) == 0
    assert main(["export", "--canvas", str(canvas), "-o", str(out)]) == 0
    parameters = Image.open(out).text["parameters"]
    fields = a1111_fields(parameters)
    # The name as its file spells it, whatever case the prompt wrote; the negative prompt's too.
    assert fields["TI hashes"] == f"Shiny: {sha12(folder / 'Shiny.pt')}, fuzzy: {sha12(folder / 'more' / 'fuzzy.safetensors')}"
    assert fields["Seed"] == "8" and fields["Steps"] == "2"
    assert str(folder) not in parameters  # named, never a path
    # A reader that does not know the field still reads the rest.
    info = ParserManager().parse(out)
    [sampler] = info.samplers
    assert [p.value for p in sampler.prompts] == ["a harbour, SHINY"]
    assert [p.value for p in sampler.negative_prompts] == ["fuzzy, blurry"]
    assert sampler.parameters["seed"] == "8"
    # A job that names none records none.
    assert main(["expand", "--right", "64", "--canvas", str(canvas), *common, "--prompt", "a harbour"]) == 0
    with Store.open(canvas) as store:
        assert "embeddings" not in store.history()[-1].params


def test_embeddings_paths_are_checked_without_loading_anything(tmp_path, folder):
    assert DiffusionSettings(model="m", embeddings=str(folder)).embeddings == (str(folder),)
    assert DiffusionSettings(model="m", embeddings=[str(folder / "plain.pt")]).embeddings == (str(folder / "plain.pt"),)
    assert DiffusionSettings(model="m").embeddings == ()
    (tmp_path / "model.ckpt").write_bytes(b"")
    cases = [(str(tmp_path / "missing"), "no such file or folder"), (str(tmp_path / "model.ckpt"), "not an embedding file"),
             ("", "needs a file or a folder"), (5, "must be files or folders")]
    for given, message in cases:
        with pytest.raises(ModelError, match=message):
            DiffusionSettings(model="m", embeddings=given if given == 5 else [given])


def test_inpaint_from_the_command_line_with_embeddings(models, folder, tmp_path, photo_file, capsys):
    mask = np.zeros((512, 512), np.uint8)
    mask[100:200, 100:200] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out, canvas = tmp_path / "fixed.png", tmp_path / "work.canvas"
    common = ["--painter", "diffusion", "--model", str(models.folder("sd")), "--offline", "--dtype", "fp32"]
    args = ["inpaint", str(photo_file), "--mask", str(tmp_path / "mask.png"), "-o", str(out), "--canvas", str(canvas),
            *common, "--embeddings", str(folder), "--prompt", "a (red:1.2) scarf, shiny BREAK plain",
            "--steps", "2", "--guidance", "3", "-q"]
    assert main(args) == 0 and out.is_file()
    with Store.open(canvas) as store:
        params = store.history()[-1].params
    assert params["prompt"] == "a (red:1.2) scarf, shiny BREAK plain"
    # The embeddings it named, by file name, with A1111's short hash of each file; "fuzzy" is loaded but not named.
    assert params["embeddings"] == {"Shiny": sha12(folder / "Shiny.pt"), "plain": sha12(folder / "plain.pt")}
    capsys.readouterr()
    cases = [(["--embeddings", str(folder)], "add --painter diffusion --model MODEL"),
             ([*common, "--embeddings", str(tmp_path / "nowhere")], "no such file or folder")]
    for extra, message in cases:
        assert main(["expand", str(photo_file), "--down", "64", "-o", str(tmp_path / "o.png"), *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
