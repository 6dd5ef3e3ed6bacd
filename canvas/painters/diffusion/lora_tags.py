"""LoRA tags in a prompt, as Automatic1111 (and Forge, Fooocus, Krita AI) write them, taken
out of the prompt before it is encoded. Pure Python: the server checks them before a job
is queued, the painter applies them.

    tagged = parse_lora_tags("a castle <lora:styles/ink:0.8>, night")
    tagged.prompt                       # "a castle , night"
    tagged.loras                        # (LoraTag(name="styles/ink", te=0.8, unet=0.8),)

A1111's grammar (modules/extra_networks.py and the Lora extension): `<lora:NAME>`,
`<lora:NAME:W>`, `<lora:NAME:TE:UNET>` (the text encoders' weight, then the denoiser's,
which defaults to the first), and named arguments `te=`, `unet=` (and `dyn=`, DyLoRA's
rows, which diffusers has no use for: ignored) in any place after the name. A weight
left out is 1. `<lyco:...>` is the same (A1111 and the LyCORIS extension alias it).
Only the prompt is parsed, as in A1111: a tag in the negative prompt is plain text there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canvas.library import Entry, Library

# A1111's `<(\w+):([^>]+)>`, for the two names that mean a LoRA.
TAG = re.compile(r"<(lora|lyco):([^>]+)>")
MAX_WEIGHT = 10.0  # beyond this a LoRA only paints noise: a typo (an extra zero), refused
MAX_LORAS = 16  # tags in one prompt


class LoraTagError(ValueError):
    """A LoRA tag that cannot be read: one line saying which and why."""


@dataclass(frozen=True)
class LoraTag:
    name: str  # the library name as written (a bare file name finds it in a subfolder)
    te: float  # weight on the text encoders
    unet: float  # weight on the denoiser (a UNet or a transformer)

    @property
    def inactive(self) -> bool:
        """Weight 0 everywhere: it paints as without it, so it is never loaded."""
        return self.te == 0 and self.unet == 0


@dataclass(frozen=True)
class Tagged:
    prompt: str  # the prompt without its tags, as it is encoded
    loras: tuple[LoraTag, ...]


def parse_lora_tags(prompt: str) -> Tagged:
    """The prompt without its LoRA tags, and the tags in order; LoraTagError for a tag
    whose weight is not a number, or a LoRA named twice."""
    tags: list[LoraTag] = []

    def take(match: re.Match[str]) -> str:
        tags.append(_tag(match.group(0), match.group(2).split(":")))
        return ""

    stripped = TAG.sub(take, prompt)
    names = [tag.name for tag in tags]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise LoraTagError(f"LoRA {twice!r} is named twice in the prompt: give it once, with the weight you want")
    if len(tags) > MAX_LORAS:
        raise LoraTagError(f"at most {MAX_LORAS} LoRA tags in a prompt, got {len(tags)}")
    return Tagged(stripped, tuple(tags))


def _tag(written: str, items: list[str]) -> LoraTag:
    name = items[0].strip()
    if not name:
        raise LoraTagError(f"{written}: the tag names no LoRA")
    positional: list[str] = []
    named: dict[str, str] = {}
    for item in items[1:]:
        key, equals, value = item.partition("=")
        if equals:
            named[key.strip()] = value
        else:
            positional.append(item)
    te = _weight(written, positional[0]) if positional else 1.0
    unet = _weight(written, positional[1]) if len(positional) > 1 else te
    te = _weight(written, named["te"]) if "te" in named else te
    unet = _weight(written, named["unet"]) if "unet" in named else unet
    return LoraTag(name, te, unet)


def _weight(written: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise LoraTagError(f"{written}: the weight {text.strip()!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > MAX_WEIGHT:
        raise LoraTagError(f"{written}: a LoRA weight is between {-MAX_WEIGHT:g} and {MAX_WEIGHT:g}, got {text.strip()}")
    return value


# A LoRA trained on one family works on another only where the denoiser is the same:
# FLUX.1 dev LoRAs on FLUX.1 Fill (diffusers widens the input layer for it).
COMPATIBLE = {("flux", "flux-fill")}


def lora_fits(lora_family: str | None, model_family: str | None) -> bool:
    """Whether a LoRA of `lora_family` may be applied to a model of `model_family` (a family
    the file does not tell is tried)."""
    if lora_family is None or model_family is None or lora_family == model_family:
        return True
    return (lora_family, model_family) in COMPATIBLE


def find_loras(library: "Library | None", tags: tuple[LoraTag, ...], model_family: str | None,
               model: str = "the model") -> list[tuple[LoraTag, "Entry"]]:
    """Each tag's library entry, checked against the model's family (LoraTagError, one line);
    tags of weight 0 are left out (they paint as without). NotFound/BadName from the library."""
    from canvas.painters.diffusion.families import FAMILIES

    wanted = [tag for tag in tags if not tag.inactive]
    if not wanted:
        return []
    if library is None:
        raise LoraTagError(f"<lora:{wanted[0].name}> needs a models library (--models DIR) to find it in")
    found = []
    for tag in wanted:
        entry = library.find("lora", tag.name)
        if not lora_fits(entry.family, model_family):
            theirs = FAMILIES[entry.family].label if entry.family in FAMILIES else entry.family
            ours = FAMILIES[model_family].label if model_family in FAMILIES else model_family
            raise LoraTagError(f"LoRA {tag.name!r} is for {theirs}; {model} is {ours}")
        found.append((tag, entry))
    return found


def painter_family(painter: Any) -> str | None:
    """The family key of a painter's (or a profile's) default model, from what it says of itself."""
    family = getattr(painter, "family", None)
    if family is not None:
        return getattr(family, "key", family)
    described = painter.describe()
    if described.get("family"):
        return described["family"]
    kind = described.get("model_kind")  # SD's loop before families: "sdxl" tells, "sd" does not (1.x or 2.x)
    return "sdxl" if kind and str(kind).startswith("sdxl") else None
