"""Textual-inversion embeddings, Automatic1111's files, loaded into a model's tokenizers and
text encoders once per painter: a prompt then uses one by its file name, as in A1111.

    embeddings = load_embeddings(model, ("~/stable-diffusion-webui/embeddings",))
    embeddings.loaded["easynegative"].vectors   # 8: the name stands for 8 tokens
    embeddings.skipped                          # [(path, "an SDXL embedding; this model is SD 1.x/2.x")]

The files A1111 reads: `.pt` / `.bin` (`{"string_to_param": {"*": tensor}, "name": ...}`, or
one tensor under any key such as `emb_params`) and `.safetensors` (SD 1.x/2.x: one tensor;
SDXL: `clip_l` and `clip_g`, one for each text encoder). An embedding is named after its
file, not the name stored inside, and matched case-blind, as A1111 does. One of another
family (an SD 1.x embedding on SDXL, a 2.x one on 1.x) is skipped with a warning, as
A1111 skips it: a folder of embeddings usually serves several models. A file that is
not an embedding is skipped too; `.pt` files are read without running their pickled code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from canvas.painters.diffusion.headers import safetensors_shapes
from canvas.painters.diffusion.loading import LoadedModel, _quiet, first_line
from canvas.painters.diffusion.settings import EMBEDDING_FILES, ModelError
from canvas.painters.diffusion.weighting import CHUNK_LENGTH

log = logging.getLogger(__name__)

XL_KEYS = ("clip_l", "clip_g")  # SDXL files: the first text encoder's vectors, the second's
# Embeddings are kilobytes (75 vectors of SDXL's 2048 floats: 600 kB); anything far larger in
# an embeddings folder is something else, not worth reading.
MAX_BYTES = 50 * 1024 * 1024


class EmbeddingError(ValueError):
    """This file cannot be used on this model: why, in a few words."""


@dataclass(frozen=True)
class Embedding:
    name: str  # the file's stem: what a prompt writes
    path: Path
    vectors: int  # tokens it stands for in a prompt


@dataclass
class Embeddings:
    """The embeddings a painter's model knows, and the files it skipped, with why."""

    loaded: dict[str, Embedding] = field(default_factory=dict)  # by lower-case name
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def key(self) -> tuple[tuple[str, str, int], ...]:
        """What is loaded, for the prompt cache: a prompt encodes differently when it changes."""
        return tuple((e.name, str(e.path), e.vectors) for e in self.loaded.values())

    def load(self, model: LoadedModel, paths: Iterable[str | Path]) -> "Embeddings":
        """Loads every embedding file in `paths` (files, or folders searched to any depth)
        that fits the model and is not loaded yet."""
        fitting: list[tuple[Embedding, dict[str, torch.Tensor]]] = []
        vocabularies = [tokenizer.get_vocab() for tokenizer in _tokenizers(model)]
        for path in embedding_files(paths):
            name = path.stem
            try:
                if name.lower() in self.loaded or any(name.lower() == e.name.lower() for e, _ in fitting):
                    raise EmbeddingError(f"another embedding is called {name!r} already")
                tensors = fit(read_embedding(path), model)
                _check_name(name, vocabularies)
            except EmbeddingError as exc:
                self.skipped.append((path, str(exc)))
                log.warning("embedding %s skipped: %s", path, exc)
                continue
            fitting.append((Embedding(name, path, next(iter(tensors.values())).shape[0]), tensors))
        if fitting:
            _load_into(model, fitting)
            for embedding, _ in fitting:
                self.loaded[embedding.name.lower()] = embedding
        return self


def load_embeddings(model: LoadedModel, paths: Iterable[str | Path]) -> Embeddings:
    return Embeddings().load(model, paths)


def library_embeddings(library: Any, family: str) -> list[Path]:
    """The embedding files of a models library (canvas/library) that may fit a model of
    `family`: those of that family, and those whose family the scan could not tell (tried,
    as A1111 tries every file in its folder). A library's own embeddings are usable by name
    without `--embeddings`: pointing the server at an A1111 or ComfyUI folder is enough."""
    if library is None:
        return []
    return [entry.path for entry in library.entries("embedding") if entry.family in (None, family)]


def embedding_files(paths: Iterable[str | Path]) -> list[Path]:
    """The embedding files among `paths` and in its folders (at any depth), each once, in order."""
    files: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EMBEDDING_FILES
                            and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
    return list(dict.fromkeys(files))


def read_embedding(path: Path) -> dict[str, torch.Tensor]:
    """The vectors of one file: {"": (n, D)} for SD 1.x/2.x, {"clip_l": (n, D1), "clip_g":
    (n, D2)} for SDXL."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise EmbeddingError("too large for an embedding (a checkpoint or a LoRA?)")
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            shapes = safetensors_shapes(path)  # the header alone: a LoRA is not read in full
            if len(shapes) != 1 and not all(key in shapes for key in XL_KEYS):
                raise EmbeddingError("not a textual-inversion embedding")
            data: Any = load_file(str(path))
        else:  # pickles: tensors and plain data only, never code
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except EmbeddingError:
        raise
    except Exception as exc:
        raise EmbeddingError(f"cannot read it ({first_line(exc)})") from None
    if isinstance(data, dict) and "string_to_param" in data:  # A1111's own .pt
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)
        if not isinstance(params, dict) or len(params) != 1:
            raise EmbeddingError("its string_to_param holds more than one embedding")
        data = {"": next(iter(params.values()))}
    elif isinstance(data, dict) and all(key in data for key in XL_KEYS):
        data = {key: data[key] for key in XL_KEYS}
    elif isinstance(data, dict) and len(data) == 1:  # emb_params, or diffusers' {"<token>": tensor}
        data = {"": next(iter(data.values()))}
    elif isinstance(data, torch.Tensor):
        data = {"": data}
    else:
        raise EmbeddingError("not a textual-inversion embedding")
    tensors = {}
    for key, tensor in data.items():
        if not isinstance(tensor, torch.Tensor) or not 1 <= tensor.ndim <= 2 or tensor.numel() == 0:
            raise EmbeddingError("not a textual-inversion embedding")
        tensors[key] = tensor.detach().reshape(-1, tensor.shape[-1])
    if len({t.shape[0] for t in tensors.values()}) != 1:
        raise EmbeddingError("its clip_l and clip_g have different numbers of vectors")
    return tensors


def fit(tensors: dict[str, torch.Tensor], model: LoadedModel) -> dict[str, torch.Tensor]:
    """The tensors by text encoder ("text_encoder", "text_encoder_2") if the embedding is of
    the model's family, else EmbeddingError saying whose it is."""
    pipeline = model.pipeline
    widths = {name: getattr(pipeline, name).get_input_embeddings().weight.shape[-1]
              for name in ("text_encoder", "text_encoder_2") if getattr(pipeline, name, None) is not None}
    xl_file = "" not in tensors
    if xl_file != model.xl:
        raise EmbeddingError("an SDXL embedding; this model is SD 1.x/2.x" if xl_file
                             else "an SD 1.x/2.x embedding; this model is SDXL")
    by_encoder = dict(zip(("text_encoder", "text_encoder_2"), tensors.values()))
    for encoder, tensor in by_encoder.items():
        if tensor.shape[-1] != widths[encoder]:
            raise EmbeddingError(f"made for a text encoder {tensor.shape[-1]} wide; this model's is {widths[encoder]} "
                                 "(SD 1.x: 768, SD 2.x: 1024)")
    vectors = next(iter(tensors.values())).shape[0]
    if vectors > CHUNK_LENGTH:
        raise EmbeddingError(f"{vectors} vectors: more than the {CHUNK_LENGTH} tokens a prompt chunk holds")
    return by_encoder


def _check_name(name: str, vocabularies: list[dict[str, int]]) -> None:
    # A name the tokenizer has already would change what that word means in every prompt.
    for vocab in vocabularies:
        if name.lower() in vocab or f"{name.lower()}_1" in vocab:
            raise EmbeddingError(f"{name!r} is a word the tokenizer knows already")


def _tokenizers(model: LoadedModel) -> list[Any]:
    pipeline = model.pipeline
    return [pipeline.tokenizer] + ([pipeline.tokenizer_2] if model.xl else [])


def _load_into(model: LoadedModel, fitting: list[tuple[Embedding, dict[str, torch.Tensor]]]) -> None:
    """diffusers' loader, once per text encoder (SDXL's two each take their own vectors)."""
    pipeline = model.pipeline
    # Lower case, as the tokenizer matches them (it lowercases prompts), so that diffusers'
    # own pipelines find a multi-vector embedding's tokens too.
    names = [embedding.name.lower() for embedding, _ in fitting]
    try:
        with _quiet():
            for tokenizer, encoder in zip(_tokenizers(model), ("text_encoder", "text_encoder_2")):
                pipeline.load_textual_inversion([tensors[encoder] for _, tensors in fitting], token=names,
                                                tokenizer=tokenizer, text_encoder=getattr(pipeline, encoder))
    except Exception as exc:  # checked above; a pipeline without diffusers' loader, say
        raise ModelError(f"cannot load the embeddings {', '.join(names)}: {first_line(exc)}") from exc
