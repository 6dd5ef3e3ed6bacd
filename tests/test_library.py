"""The models library: A1111 and ComfyUI folders (and plain ones) of tiny files of every
family, scanned from their headers; names, kinds, families, sizes, A1111's hashes, the scan
cache, rescans from threads, and `boundless models`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from canvas.cli import main
from canvas.library import BadName, Library, LibraryError, NotFound
from canvas.library.pickled import pickle_shapes
from tiny_models import TinyModels

SD1_ATTENTION = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


def write(path: Path, shapes: dict[str, tuple[int, ...]], metadata: dict[str, str] | None = None) -> Path:
    """A .safetensors file with these tensor names and shapes (zeros: only names and shapes matter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: np.zeros(shape, np.float16) for name, shape in shapes.items()}, str(path), metadata=metadata)
    return path


def write_gguf(path: Path, architecture: str, shapes: dict[str, tuple[int, ...]]) -> Path:
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), architecture)
    for name, shape in shapes.items():
        writer.add_tensor(name, np.zeros(shape, np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def kohya(*modules: str, down: int = 768) -> dict[str, tuple[int, ...]]:
    """A kohya LoRA over `modules` (kohya names): down, up and alpha per module."""
    shapes: dict[str, tuple[int, ...]] = {}
    for module in modules:
        shapes[f"{module}.lora_down.weight"] = (4, down)
        shapes[f"{module}.lora_up.weight"] = (8, 4)
        shapes[f"{module}.alpha"] = ()
    return shapes


def peft_lora(unet_folder: Path, path: Path) -> Path:
    """A diffusers-format LoRA made with peft on a tiny UNet, as `save_lora_weights` writes it."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(unet_folder, subfolder="unet")
    unet.add_adapter(LoraConfig(r=4, init_lora_weights=False, target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(path.parent, unet_lora_layers=get_peft_model_state_dict(unet),
                                              weight_name=path.name)
    return path


def sd1_embedding_pt(path: Path, width: int = 768) -> Path:
    """A1111's textual-inversion .pt: `string_to_param` with the vectors, saved by torch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": torch.nn.Parameter(torch.zeros(2, width))},
                "name": path.stem, "step": 500, "sd_checkpoint": "e1db02fb8c", "sd_checkpoint_name": "sd15"}, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyModels:
    return TinyModels.shared(tmp_path_factory)


@pytest.fixture(scope="module")
def webui(tmp_path_factory, tiny) -> Path:
    """An A1111 (stable-diffusion-webui) folder."""
    root = tmp_path_factory.mktemp("webui")
    checkpoints = root / "models" / "Stable-diffusion"
    checkpoints.mkdir(parents=True)
    shutil.copy(tiny.single_file("sd"), checkpoints / "sd15.safetensors")
    (checkpoints / "xl").mkdir()
    shutil.copy(tiny.single_file("sdxl"), checkpoints / "xl" / "tiny-xl.safetensors")
    write(checkpoints / "sd21-768.safetensors", {SD1_ATTENTION: (4, 1024), "cond_stage_model.model.ln_final.weight": (4,)})
    # Forge keeps FLUX's transformer-only files with the checkpoints: a diffusion model.
    write(checkpoints / "flux1-dev.safetensors", {"double_blocks.0.img_attn.norm.key_norm.scale": (128,),
                                                  "img_in.weight": (8, 64)})
    torch.save({"state_dict": {SD1_ATTENTION: torch.zeros(4, 768), "first_stage_model.decoder.conv_in.weight":
                               torch.zeros(1)}, "global_step": 470000}, checkpoints / "old-sd1.ckpt")
    (checkpoints / "sd15.yaml").write_text("model: {}\n")  # configs and previews beside: not weights
    loras = root / "models" / "Lora"
    write(loras / "kohya-sd1.safetensors", kohya("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
                                                 "lora_te_text_model_encoder_layers_0_self_attn_q_proj"),
          metadata={"ss_base_model_version": "sd_v1", "ss_output_name": "kohya-sd1"})
    write(loras / "styles" / "kohya-xl.safetensors",
          kohya("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", "lora_te1_text_model_encoder_layers_0_mlp_fc1",
                "lora_te2_text_model_encoder_layers_0_mlp_fc1", down=16))
    (loras / "junk.safetensors").write_bytes(b"this is not a safetensors file at all")
    (loras / "kohya-sd1.preview.png").write_bytes(b"\x89PNG")
    loha = {f"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.hada_{part}": (4, 4)
            for part in ("w1_a", "w1_b", "w2_a", "w2_b")}
    write(root / "models" / "LyCORIS" / "loha-sd2.safetensors", loha, metadata={"ss_v2": "True"})
    write(root / "models" / "VAE" / "vae-ft-mse.safetensors", {"encoder.conv_in.weight": (8, 3, 3, 3),
                                                              "decoder.conv_in.weight": (8, 4, 3, 3)})
    sd1_embedding_pt(root / "embeddings" / "sd1-style.pt")
    write(root / "embeddings" / "xl-style.safetensors", {"clip_l": (2, 768), "clip_g": (2, 1280)})
    write(root / "embeddings" / "negative" / "sd2-neg.safetensors", {"emb_params": (4, 1024)})
    return root


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, tiny) -> Path:
    """A ComfyUI folder."""
    root = tmp_path_factory.mktemp("ComfyUI")
    models = root / "models"
    shutil.copytree(tiny.folder("sd"), models / "checkpoints" / "sd15-diffusers")
    shutil.copy(tiny.single_file("sd"), models / "checkpoints" / "sd15.safetensors")
    diffusion = models / "diffusion_models"
    write(diffusion / "flux1-fill-dev.safetensors", {"double_blocks.0.img_attn.norm.key_norm.scale": (128,),
                                                     "img_in.weight": (8, 384)})
    write(diffusion / "z_image_turbo.safetensors", {"layers.0.adaLN_modulation.0.weight": (4, 4),
                                                    "cap_embedder.1.weight": (4, 4)})
    write(diffusion / "sd3.5_medium.safetensors", {"joint_blocks.0.context_block.adaLN_modulation.1.bias": (4,)})
    write(diffusion / "chroma.safetensors", {"distilled_guidance_layer.in_proj.bias": (4,)})
    write(diffusion / "flux2-klein.safetensors", {"single_stream_modulation.lin.weight": (4, 4)})
    write_gguf(models / "unet" / "flux1-dev-Q4_K_S.gguf", "flux", {"double_blocks.0.img_attn.norm.key_norm.scale": (128,),
                                                                  "img_in.weight": (8, 64)})
    write_gguf(models / "unet" / "qwen-image-Q8.gguf", "qwen_image", {"transformer_blocks.0.img_mod.1.weight": (8, 4),
                                                                     "txt_norm.weight": (4,)})
    loras = models / "loras"
    peft_lora(tiny.folder("sd"), loras / "peft-sd.safetensors")
    peft_lora(tiny.folder("sdxl"), loras / "xl" / "peft-sdxl.safetensors")
    write(loras / "flux-kohya.safetensors", kohya("lora_unet_double_blocks_0_img_attn_qkv", down=3072))
    write(loras / "flux-diffusers.safetensors", {"transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight": (4, 3072),
                                                 "transformer.single_transformer_blocks.0.attn.to_q.lora_B.weight": (3072, 4)})
    write(loras / "sd3-diffusers.safetensors", {"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": (4, 1536),
                                                "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": (1536, 4)})
    write(loras / "qwen.safetensors", {"transformer.transformer_blocks.0.img_mlp.net.0.proj.lora_A.weight": (4, 8),
                                       "transformer.transformer_blocks.0.img_mlp.net.0.proj.lora_B.weight": (8, 4)})
    write(loras / "z-image.safetensors", {"diffusion_model.layers.0.attention.to_q.lora_A.weight": (4, 8),
                                          "diffusion_model.layers.0.attention.to_q.lora_B.weight": (8, 4)})
    write(loras / "mystery.safetensors", {"something.weight": (4, 4)})
    write(models / "embeddings" / "sd2-style.safetensors", {"emb_params": (1, 1024)})
    write(models / "vae" / "flux2-vae.safetensors", {"encoder.conv_in.weight": (8, 3, 3, 3),
                                                    "decoder.conv_in.weight": (8, 32, 3, 3)})
    write(models / "controlnet" / "not-ours.safetensors", {SD1_ATTENTION: (4, 768)})  # not a folder the library reads
    return root


WEBUI = {
    ("checkpoint", "sd15"): ("sd1", "safetensors"),
    ("checkpoint", "xl/tiny-xl"): ("sdxl", "safetensors"),
    ("checkpoint", "sd21-768"): ("sd2", "safetensors"),
    ("checkpoint", "old-sd1"): ("sd1", "pickle"),
    ("diffusion_model", "flux1-dev"): ("flux", "safetensors"),
    ("lora", "kohya-sd1"): ("sd1", "safetensors"),
    ("lora", "styles/kohya-xl"): ("sdxl", "safetensors"),
    ("lora", "loha-sd2"): ("sd2", "safetensors"),
    ("vae", "vae-ft-mse"): (None, "safetensors"),
    ("embedding", "sd1-style"): ("sd1", "pickle"),
    ("embedding", "xl-style"): ("sdxl", "safetensors"),
    ("embedding", "negative/sd2-neg"): ("sd2", "safetensors"),
}
COMFY = {
    ("checkpoint", "sd15-diffusers"): ("sd1", "diffusers"),
    ("checkpoint", "sd15"): ("sd1", "safetensors"),
    ("diffusion_model", "flux1-fill-dev"): ("flux-fill", "safetensors"),
    ("diffusion_model", "z_image_turbo"): ("z-image", "safetensors"),
    ("diffusion_model", "sd3.5_medium"): ("sd3", "safetensors"),
    ("diffusion_model", "chroma"): ("chroma", "safetensors"),
    ("diffusion_model", "flux2-klein"): ("flux2-klein", "safetensors"),
    ("diffusion_model", "flux1-dev-Q4_K_S"): ("flux", "gguf"),
    ("diffusion_model", "qwen-image-Q8"): ("qwen-image", "gguf"),
    ("lora", "peft-sd"): ("sd1", "safetensors"),
    ("lora", "xl/peft-sdxl"): ("sdxl", "safetensors"),
    ("lora", "flux-kohya"): ("flux", "safetensors"),
    ("lora", "flux-diffusers"): ("flux", "safetensors"),
    ("lora", "sd3-diffusers"): ("sd3", "safetensors"),
    ("lora", "qwen"): ("qwen-image", "safetensors"),
    ("lora", "z-image"): ("z-image", "safetensors"),
    ("lora", "mystery"): (None, "safetensors"),  # in the LoRA folder, of no format we know: a LoRA, family unknown
    ("embedding", "sd2-style"): ("sd2", "safetensors"),
    ("vae", "flux2-vae"): ("flux2-klein", "safetensors"),
}


def found(library: Library) -> dict[tuple[str, str], tuple[str | None, str]]:
    return {(entry.kind, entry.name): (entry.family, entry.format) for entry in library.entries()}


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_an_a1111_folder_is_found_by_kind_family_and_name(webui, tmp_path):
    library = Library([webui], cache=tmp_path / "cache.json")
    assert found(library) == WEBUI
    for entry in library.entries():
        assert entry.path.is_file() and entry.path.is_relative_to(webui) and entry.root == webui
        assert entry.size == entry.path.stat().st_size and entry.mtime == entry.path.stat().st_mtime
    lora = library.find("lora", "styles/kohya-xl")
    assert lora.path == webui / "models" / "Lora" / "styles" / "kohya-xl.safetensors"
    assert lora.as_dict() == {"name": "styles/kohya-xl", "kind": "lora", "family": "sdxl", "label": "SDXL",
                              "format": "safetensors", "size": lora.size, "mtime": lora.mtime, "hash": None,
                              "sha256": None}  # what a client may see: no path
    # The damaged file is listed as not used, with why; the scan went on; PNGs and YAMLs are not weights.
    assert [(s.path.name, "not a .safetensors file" in s.reason) for s in library.scan.skipped] == [("junk.safetensors", True)]


def test_a_comfyui_folder_is_found_by_kind_family_and_name(comfy, tmp_path):
    library = Library([comfy], cache=tmp_path / "cache.json")
    assert found(library) == COMFY
    pipeline = library.find("checkpoint", "sd15-diffusers")
    assert pipeline.path == comfy / "models" / "checkpoints" / "sd15-diffusers"
    assert pipeline.size == folder_size(pipeline.path) and library.hash(pipeline) is None  # A1111 hashes no folders
    assert not library.scan.skipped


def test_pointing_at_the_models_folder_itself_finds_the_same(webui, comfy, tmp_path):
    assert found(Library([webui / "models"], cache=None)) == WEBUI  # A1111's embeddings/ lies beside models/
    assert found(Library([comfy / "models"], cache=None)) == COMFY


def test_a_folder_given_twice_or_inside_another_is_read_once(webui, tmp_path):
    assert found(Library([webui, webui / "models" / "Lora", webui], cache=None)) == WEBUI


def test_a_plain_folder_is_read_for_what_each_file_holds(webui, comfy, tmp_path):
    plain = tmp_path / "plain"
    (plain / "sub").mkdir(parents=True)
    shutil.copy(webui / "models" / "Stable-diffusion" / "sd15.safetensors", plain / "model.safetensors")
    shutil.copy(comfy / "models" / "loras" / "flux-kohya.safetensors", plain / "sub" / "a-lora.safetensors")
    shutil.copy(webui / "embeddings" / "sd1-style.pt", plain / "style.pt")
    shutil.copy(comfy / "models" / "unet" / "qwen-image-Q8.gguf", plain / "qwen.gguf")
    shutil.copy(comfy / "models" / "vae" / "flux2-vae.safetensors", plain / "vae.safetensors")
    write(plain / "text-encoder.safetensors", {"encoder.block.0.layer.0.SelfAttention.q.weight": (4, 4)})
    write_gguf(plain / "sdxl-Q8.gguf", "sdxl", {"input_blocks.0.0.weight": (4, 4, 3, 3)})  # diffusers cannot load it
    (plain / "broken.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    (plain / "README.md").write_text("my models\n")
    library = Library([plain], cache=None)
    assert found(library) == {
        ("checkpoint", "model"): ("sd1", "safetensors"),
        ("lora", "sub/a-lora"): ("flux", "safetensors"),
        ("embedding", "style"): ("sd1", "pickle"),
        ("diffusion_model", "qwen"): ("qwen-image", "gguf"),
        ("vae", "vae"): ("flux2-klein", "safetensors"),
    }
    assert sorted(s.path.name for s in library.scan.skipped) == ["broken.ckpt", "sdxl-Q8.gguf", "text-encoder.safetensors"]
    assert [s.reason for s in library.scan.skipped if s.path.suffix == ".gguf"] == ["diffusers cannot load SDXL from a GGUF file"]


def addnet(path: Path) -> str:
    """kohya's (and A1111's) hash of a .safetensors LoRA, as modules/hashes.py computes it."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + length:]).hexdigest()


def test_hashes_are_a1111s_and_computed_once(webui, tmp_path, monkeypatch):
    library = Library([webui], cache=tmp_path / "cache.json")
    assert all(entry.sha256 is None for entry in library.entries())  # a scan reads headers only
    checkpoint = library.find("checkpoint", "sd15")
    whole = hashlib.sha256(checkpoint.path.read_bytes()).hexdigest()
    assert library.hash(checkpoint) == whole[:10]  # "Model hash"
    assert library.find("checkpoint", "sd15").short_hash == whole[:10]  # the current scan learnt it
    assert library.hash(library.find("checkpoint", "old-sd1")) == hashlib.sha256(
        (webui / "models" / "Stable-diffusion" / "old-sd1.ckpt").read_bytes()).hexdigest()[:10]
    lora = library.find("lora", "styles/kohya-xl")
    assert library.hash(lora) == addnet(lora.path)[:12] != hashlib.sha256(lora.path.read_bytes()).hexdigest()[:12]
    embedding = library.find("embedding", "sd1-style")
    assert library.hash(embedding) == hashlib.sha256(embedding.path.read_bytes()).hexdigest()[:12]
    vae = library.find("vae", "vae-ft-mse")
    assert library.hash(vae) == hashlib.sha256(vae.path.read_bytes()).hexdigest()[:10]  # "VAE hash"

    # Another library (another process) on the same cache: the hashes are known, nothing is hashed again.
    monkeypatch.setattr("canvas.library.library.compute", lambda *a: pytest.fail("an unchanged file was hashed again"))
    again = Library([webui], cache=tmp_path / "cache.json")
    assert again.find("checkpoint", "sd15").short_hash == whole[:10]
    assert again.hash(again.find("lora", "styles/kohya-xl")) == addnet(lora.path)[:12]


def test_a_lora_hash_stored_by_its_trainer_is_the_one_a1111_shows(tmp_path):
    loras = tmp_path / "models" / "Lora"
    write(loras / "trained.safetensors", kohya("lora_unet_down_blocks_0_attentions_0_proj_in"),
          metadata={"sshs_model_hash": "0123456789abcdef" * 4})
    library = Library([tmp_path], cache=None)
    assert library.find("lora", "trained").short_hash == "0123456789ab"


def test_names_are_unique_and_only_scanned_names_are_found(webui, comfy, tmp_path):
    library = Library([webui, comfy], cache=tmp_path / "cache.json")
    # Both folders have a checkpoint sd15: the first folder's keeps the name, the other its extension.
    assert library.find("checkpoint", "sd15").root == webui
    assert library.find("checkpoint", "sd15.safetensors").root == comfy
    assert len({(e.kind, e.name) for e in library.entries()}) == len(library.entries()) == len(WEBUI) + len(COMFY)
    for bad in ("../models/Lora/junk", "/etc/passwd", "a\\b", "", "x//y", " sd15", "a\x00b", 7, None):
        with pytest.raises(BadName):
            library.find("checkpoint", bad)
    for kind, name in (("checkpoint", "sd15.yaml"), ("checkpoint", "models/Stable-diffusion/sd15"),
                       ("lora", "sd15"), ("lora", "junk"), ("checkpoint", "not-ours")):
        with pytest.raises(NotFound, match="in the models library"):
            library.find(kind, name)
    with pytest.raises(LibraryError, match="unknown kind"):
        library.find("controlnet", "sd15")
    # A1111's bare file names find the one entry of that name in a subfolder, as prompts copied from it say.
    assert library.find("lora", "kohya-xl").name == "styles/kohya-xl"
    assert library.find("embedding", "sd2-neg").name == "negative/sd2-neg"
    write(tmp_path / "more" / "loras" / "a" / "kohya-xl.safetensors", kohya("lora_te1_text_model_encoder_layers_0_mlp_fc1"))
    library = Library([webui, comfy, tmp_path / "more"], cache=tmp_path / "cache.json")
    with pytest.raises(NotFound, match="2 loras are named 'kohya-xl': say which, 'a/kohya-xl' or 'styles/kohya-xl'"):
        library.find("lora", "kohya-xl")


def test_a_second_scan_reads_no_unchanged_file_and_rereads_a_changed_one(webui, tmp_path, monkeypatch):
    folder = tmp_path / "webui"
    shutil.copytree(webui, folder)
    cache = tmp_path / "cache.json"
    first = Library([folder], cache=cache).scan
    assert first.read == len(WEBUI) + 1 and first.cached == 0  # every weights file, the junk one too

    # Swap a LoRA's bytes for an SDXL checkpoint's header of the same size, and put its
    # mtime back: a scan that read it would see a checkpoint; the cached scan sees the LoRA.
    lora = folder / "models" / "Lora" / "kohya-sd1.safetensors"
    stat = lora.stat()
    impostor = write(tmp_path / "impostor.safetensors", {"conditioner.embedders.1.model.positional_embedding": (4, 4),
                                                         "pad": (1,)}).read_bytes()
    lora.write_bytes(impostor[:stat.st_size].ljust(stat.st_size, b" "))
    os.utime(lora, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    reads: list[Path] = []
    import canvas.library.scan as scan_module

    real = scan_module.read_content
    monkeypatch.setattr(scan_module, "read_content", lambda path: reads.append(path) or real(path))
    again = Library([folder], cache=cache)
    assert reads == [] and again.scan.read == 0 and again.scan.cached == first.read
    assert found(again) == WEBUI and again.find("lora", "kohya-sd1").family == "sd1"

    # A changed file (here: a new mtime) is read again, and hashed again; a new one is read; a deleted one goes.
    xl = folder / "models" / "Stable-diffusion" / "xl" / "tiny-xl.safetensors"
    old_hash = again.hash(again.find("checkpoint", "xl/tiny-xl"))
    write(xl, {SD1_ATTENTION: (4, 1024), "cond_stage_model.model.ln_final.weight": (4,)})
    write(folder / "models" / "Lora" / "new.safetensors", kohya("lora_te2_text_model_encoder_layers_0_mlp_fc1"))
    (folder / "embeddings" / "xl-style.safetensors").unlink()
    scan = again.rescan()
    assert sorted(path.name for path in reads) == ["new.safetensors", "tiny-xl.safetensors"] and scan.read == 2
    assert again.find("checkpoint", "xl/tiny-xl").family == "sd2" and again.find("lora", "new").family == "sdxl"
    assert again.find("checkpoint", "xl/tiny-xl").sha256 is None  # the old hash is not the new file's
    assert again.hash(again.find("checkpoint", "xl/tiny-xl")) == hashlib.sha256(xl.read_bytes()).hexdigest()[:10] != old_hash
    with pytest.raises(NotFound):
        again.find("embedding", "xl-style")
    # --rescan: every file read again, whatever the cache says (the impostor shows now).
    reads.clear()
    full = again.rescan(full=True)
    assert full.read == len(reads) == len(WEBUI) + 1 and full.cached == 0
    assert again.find("lora", "kohya-sd1").family is None  # a checkpoint's header in the LoRA folder
    cached = json.loads(cache.read_text())["files"]
    assert str(folder / "embeddings" / "xl-style.safetensors") not in cached and str(lora) in cached


def test_rescans_from_threads_swap_in_whole_results(webui, tmp_path):
    folder = tmp_path / "webui"
    shutil.copytree(webui, folder)
    library = Library([folder], cache=tmp_path / "cache.json")
    before = library.scan
    write(folder / "models" / "Lora" / "added.safetensors", kohya("lora_te1_text_model_encoder_layers_0_mlp_fc1"))
    results, errors = [], []
    stop = threading.Event()

    def look() -> None:  # readers while the scans run: always a whole scan, old or new
        while not stop.is_set():
            scan = library.scan
            names = {e.name for e in scan.list("lora")}
            if names not in ({"kohya-sd1", "styles/kohya-xl", "loha-sd2"}, {"kohya-sd1", "styles/kohya-xl", "loha-sd2", "added"}):
                errors.append(names)

    reader = threading.Thread(target=look)
    reader.start()
    threads = [threading.Thread(target=lambda: results.append(library.rescan())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reader.join()
    assert not errors and len(results) == 4 and library.scan in results
    assert library.find("lora", "added").family == "sdxl"
    assert before.find("lora", "added") is None  # a scan held by a reader never changes


def test_a_hostile_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", __import__("pickle").dumps({"string_to_param": {"*": Evil()}}, protocol=2))
    (tmp_path / "evil.pt").write_bytes(buffer.getvalue())
    assert pickle_shapes(tmp_path / "evil.pt") == {}
    assert not marker.exists()
    library = Library([tmp_path], cache=None)  # a plain folder: listed as not used, the scan goes on
    assert library.entries() == [] and [s.path.name for s in library.scan.skipped] == ["evil.pt"]


def test_boundless_models_lists_by_kind_and_family(webui, comfy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOUNDLESS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["models", "--models", str(webui), "--models", str(comfy)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    headings = [line for line in lines if not line.startswith(" ")]
    assert headings[:5] == ["checkpoints (6):", "diffusion models (8):", "LoRAs (11):", "embeddings (4):", "VAEs (2):"]
    section = lines[lines.index("LoRAs (11):") + 1: lines.index("embeddings (4):")]
    assert section[0] == "  SD 1.x (sd1)" and section[1].split()[0] == "kohya-sd1" and section[2].split()[0] == "peft-sd"
    assert "  family unknown" in section and any(line.split()[0] == "mystery" for line in section if line.startswith("    "))
    assert "junk.safetensors: not a .safetensors file" in out
    assert (tmp_path / "cache" / "library.json").is_file()

    assert main(["models", "--models", str(webui), "--json", "--hashes"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(e["kind"], e["name"]) for e in listed["entries"]} == set(WEBUI)
    sd15 = next(e for e in listed["entries"] if e["name"] == "sd15")
    path = webui / "models" / "Stable-diffusion" / "sd15.safetensors"
    assert sd15["hash"] == hashlib.sha256(path.read_bytes()).hexdigest()[:10] and sd15["path"] == str(path)
    assert sd15["size"] == path.stat().st_size and sd15["family"] == "sd1"
    assert listed["scan"]["read"] == 0  # the first listing's cache

    assert main(["models", "--models", str(tmp_path / "nowhere")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "nowhere: no such folder" in captured.err


@pytest.mark.parametrize("shapes, metadata, family", [
    (kohya("lora_te_text_model_encoder_layers_0_self_attn_q_proj"), {}, "sd1"),
    (kohya("lora_te_text_model_encoder_layers_0_self_attn_q_proj", down=1024), {}, "sd2"),  # SD 2's text encoder
    (kohya("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", down=2048), {}, "sdxl"),
    (kohya("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", down=640), {}, "sdxl"),  # kohya's SDXL names
    ({"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.down.weight": (4, 1024),
      "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.up.weight": (320, 4)}, {}, "sd2"),
    (kohya("lora_unet_down_blocks_1_resnets_0_conv1", down=320), {"ss_base_model_version": "sdxl_base_v1-0"}, "sdxl"),
    (kohya("lora_unet_down_blocks_0_attentions_0_proj_in", down=320), {"ss_v2": "True"}, "sd2"),
    (kohya("lora_unet_double_blocks_0_img_attn_qkv", down=3072), {}, "flux"),
    (kohya("lora_unet_double_blocks_0_img_attn_qkv", down=3072), {"modelspec.architecture": "Flux.1-fill-dev/lora"}, "flux-fill"),
    (kohya("lora_unet_double_blocks_0_img_attn_qkv", down=3072), {"modelspec.architecture": "chroma/lora"}, "chroma"),
    ({"diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight": (4, 3072)}, {}, "flux"),  # ComfyUI's, ai-toolkit's
    ({"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": (4, 3072)}, {}, "flux"),  # joint blocks: FLUX's width
    ({"transformer.transformer_blocks.0.attn.add_q_proj.lora_A.weight": (4, 2432)}, {}, "sd3"),  # SD 3.5 Large's
    (kohya("lora_unet_joint_blocks_0_context_block_attn_qkv", down=1536), {}, "sd3"),
    (kohya("lora_unet_transformer_blocks_0_txt_mlp_net_0_proj", down=3072), {}, "qwen-image"),
    ({"diffusion_model.layers.0.feed_forward.w1.lora_A.weight": (4, 3840)}, {}, "z-image"),
    ({"transformer.single_transformer_blocks.0.attn.to_qkv_mlp_proj.lora_A.weight": (4, 3072)}, {}, "flux2-klein"),
    ({"something.lora_A.weight": (4, 8)}, {}, None),
])
def test_lora_families_from_every_spelling(shapes, metadata, family):
    from canvas.library.loras import is_adapter, lora_family

    assert is_adapter(shapes) and lora_family(shapes, metadata) == family


def test_a_file_that_needs_a_missing_package_is_read_again_once_it_is_there(comfy, tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(comfy / "models" / "unet" / "flux1-dev-Q4_K_S.gguf", plain / "flux.gguf")
    with monkeypatch.context() as patch:
        patch.setitem(__import__("sys").modules, "gguf", None)  # as if not installed
        library = Library([plain], cache=tmp_path / "cache.json")
    assert library.entries() == [] and "needs the gguf package" in library.scan.skipped[0].reason
    scan = library.rescan()  # installed now: read again, not taken from the cache
    assert scan.read == 1 and found(library) == {("diffusion_model", "flux"): ("flux", "gguf")}


def test_a_flux2_dev_gguf_is_skipped_by_name_not_listed_as_klein(tmp_path):
    # its architecture ("flux2") is Klein's too; its guidance embedding says FLUX.2 dev
    from canvas.library.content import read_content
    from canvas.painters.diffusion.families import FLUX2_DEV

    names = {"single_stream_modulation.lin.weight": (4, 4), "double_blocks.0.img_attn.norm.key_norm.scale": (4,)}
    klein = read_content(write_gguf(tmp_path / "flux-2-klein-4b-Q8_0.gguf", "flux2", names))
    dev = read_content(write_gguf(tmp_path / "flux2-dev-Q4_K_S.gguf", "flux2", {**names, "guidance_in.in_layer.weight": (4, 4)}))
    assert (klein.kind, klein.family) == ("diffusion_model", "flux2-klein")
    assert (dev.kind, dev.family, dev.reason) == (None, None, FLUX2_DEV)
