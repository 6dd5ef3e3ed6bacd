"""Start image for the unknown part of a window: what the painter sees before it paints.

Modes (``PREFILL_MODES``):
- ``"edge"`` (default): known colours pushed outwards, more blurred the further they go
  (a push-pull pyramid), so a diffusion painter starts from plausible low frequencies.
- ``"mean"``: the mean colour of the known pixels.
- ``"noise"``: that mean plus gaussian noise with the known pixels' per-channel std, seeded.
- ``"patchmatch"``: exemplar inpainting through the ``pypatchmatch`` wheel (patch size 3,
  seeded); falls back to ``"edge"`` when its native library is unavailable.

With no known pixel at all, every mode fills mid grey (``"noise"``: noise around grey).

    >>> image = np.zeros((4, 4, 3), np.uint8); image[:, :2] = (10, 20, 30)
    >>> unknown = np.zeros((4, 4), bool); unknown[:, 2:] = True
    >>> prefill(image, unknown, "edge")[0, 3].tolist()
    [10, 20, 30]
"""

from __future__ import annotations

import numpy as np

PREFILL_MODES = ("edge", "mean", "noise", "patchmatch")
GREY = 128.0
GREY_STD = 32.0  # "noise" spread when there is no known pixel to take a std from


def prefill(image: np.ndarray, unknown: np.ndarray, mode: str = "edge", *, seed: int = 0) -> np.ndarray:
    """A copy of ``image`` (uint8 HxWx3) with the ``unknown`` pixels replaced; known ones untouched."""
    if mode not in PREFILL_MODES:
        raise ValueError(f"unknown prefill mode {mode!r}; expected one of {PREFILL_MODES}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 HxWx3, got {image.dtype} {image.shape}")
    if unknown.shape != image.shape[:2] or unknown.dtype != np.bool_:
        raise ValueError(f"unknown must be bool {image.shape[:2]}, got {unknown.dtype} {unknown.shape}")
    out = image.copy()
    if not unknown.any():
        return out
    known = ~unknown
    if not known.any():
        if mode == "noise":
            rng = np.random.default_rng(seed)
            out[:] = _to_uint8(rng.normal(GREY, GREY_STD, out.shape).astype(np.float32))
        else:
            out[:] = np.uint8(GREY)
        return out
    if mode == "patchmatch" and patchmatch_available():
        return _patchmatch(image, unknown, seed)
    if mode in ("edge", "patchmatch"):
        np.copyto(out, _to_uint8(_push_pull(image, known)), where=unknown[..., None])
        return out
    pixels = image[known].astype(np.float64)
    mean = pixels.mean(axis=0)
    if mode == "mean":
        out[unknown] = _to_uint8(mean.astype(np.float32))
        return out
    std = pixels.std(axis=0)
    rng = np.random.default_rng(seed)
    n = int(unknown.sum())
    noise = rng.standard_normal((n, 3), dtype=np.float32) * std.astype(np.float32) + mean.astype(np.float32)
    out[unknown] = _to_uint8(noise)
    return out


def patchmatch_available() -> bool:
    """Whether pypatchmatch's native library loads (tests monkeypatch this to test the fallback)."""
    try:
        from patchmatch import patch_match
    except Exception:  # missing wheel, or a wheel whose import itself fails
        return False
    return bool(patch_match.patchmatch_available)


def _patchmatch(image: np.ndarray, unknown: np.ndarray, seed: int) -> np.ndarray:
    from patchmatch import patch_match

    patch_match.set_random_seed(seed)
    result = patch_match.inpaint(image, unknown.astype(np.uint8), patch_size=3)
    out = image.copy()  # the library should leave known pixels alone; make sure of it
    np.copyto(out, result, where=unknown[..., None])
    return out


def _push_pull(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every pixel's colour, from the known ones, blurred more the further it is from them.

    Push: halve the resolution repeatedly, summing premultiplied (rgb * w, w) over 2x2
    blocks and renormalising so w stays in [0, 1] (w = min(1, sum of child weights)).
    Pull: from the coarsest level down, each level is its own colour where it has weight
    and the bilinearly upsampled coarser result where it lacks it:
    F_l = P_l + (1 - w_l) * up(F_l+1). An unknown pixel d px from the known thus gets a
    level about log2(d) coarser, i.e. an average over about d px: blur grows with distance.
    """
    level = np.empty(image.shape[:2] + (4,), np.float32)
    level[..., 3] = known
    np.multiply(image, level[..., 3:], out=level[..., :3])
    pyramid = [level]
    while max(level.shape[:2]) > 1:
        level = _down2(level)
        pyramid.append(level)
    top = pyramid[-1]
    result = top[..., :3] / top[..., 3:]  # the coarsest level holds every known pixel: w > 0
    for level in reversed(pyramid[:-1]):
        up = _up2(result, level.shape[:2])
        if level is pyramid[0]:
            return up  # at full resolution only the unknown pixels (w = 0) are used
        # P + (1 - w) * up  ==  up + P - w * up
        result = up
        result += level[..., :3]
        result -= level[..., 3:] * up
    return result


def _down2(a: np.ndarray) -> np.ndarray:
    """2x2 premultiplied sums with renormalised weight; odd sizes get a zero-weight edge."""
    h, w = a.shape[:2]
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)))
    s = a[0::2, 0::2] + a[1::2, 0::2]
    s += a[0::2, 1::2]
    s += a[1::2, 1::2]
    s /= np.maximum(s[..., 3:], 1.0)
    return s


def _up2(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear 2x upsampling (pixel centres aligned, edges clamped), cropped to ``shape``."""
    a = _up2_axis(a, 0)[: shape[0]]
    return _up2_axis(a, 1)[:, : shape[1]]


def _up2_axis(a: np.ndarray, axis: int) -> np.ndarray:
    n = a.shape[axis]
    shape = list(a.shape)
    shape[axis] = 2 * n
    out = np.empty(shape, np.float32)

    def take(s: slice) -> tuple[slice, ...]:
        return (slice(None),) * axis + (s,)

    # Output 2i sits a quarter pixel before input i, 2i + 1 a quarter after.
    even, odd = out[take(slice(0, None, 2))], out[take(slice(1, None, 2))]
    np.multiply(a, 0.75, out=even)
    np.multiply(a, 0.75, out=odd)
    even[take(slice(1, None))] += 0.25 * a[take(slice(None, -1))]
    even[take(slice(0, 1))] += 0.25 * a[take(slice(0, 1))]
    odd[take(slice(None, -1))] += 0.25 * a[take(slice(1, None))]
    odd[take(slice(-1, None))] += 0.25 * a[take(slice(-1, None))]
    return out


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round a float32 temporary to uint8 (in place on ``x``: callers pass scratch arrays)."""
    x += 0.5
    np.clip(x, 0.0, 255.0, out=x)
    return x.astype(np.uint8)
