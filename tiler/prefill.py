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
EDGE_EPS = 0.05  # weight of unknown coarse pixels when upsampling next to known ones


def prefill(image: np.ndarray, unknown: np.ndarray, mode: str = "edge", *, seed: int = 0) -> np.ndarray:
    """A copy of ``image`` (uint8 HxWx3) with the ``unknown`` pixels replaced; known ones untouched."""
    if mode not in PREFILL_MODES:
        raise ValueError(f"unknown prefill mode {mode!r}; expected one of {PREFILL_MODES}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 HxWx3, got {image.dtype} {image.shape}")
    if unknown.shape != image.shape[:2] or unknown.dtype != np.bool_:
        raise ValueError(f"unknown must be bool {image.shape[:2]}, got {unknown.dtype} {unknown.shape}")
    out = image.copy()
    box = _bounding_box(unknown)
    if box is None:
        return out
    if mode == "patchmatch" and patchmatch_available() and not unknown.all():
        return _patchmatch(image, unknown, seed)
    known = ~unknown
    if mode in ("edge", "patchmatch") and known.any():
        _edge(out, known, unknown, box)
        return out
    mean, std = _known_stats(image, known)
    if mode == "noise":
        rng = np.random.default_rng(seed)
        y0, y1, x0, x1 = box
        for c in range(3):
            plane = rng.standard_normal((y1 - y0, x1 - x0), dtype=np.float32)
            plane *= np.float32(std[c])
            plane += np.float32(mean[c] + 0.5)
            np.clip(plane, 0.0, 255.0, out=plane)
            _merge(out[y0:y1, x0:x1, c], plane.astype(np.uint8), unknown[y0:y1, x0:x1])
    else:  # "mean", and "edge" with nothing known
        for c in range(3):
            _merge(out[..., c], np.uint8(round(mean[c])), unknown)
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
    result = patch_match.inpaint(image, unknown.view(np.uint8), patch_size=3)
    out = image.copy()  # the library leaves known pixels alone; make sure of it anyway
    np.copyto(out, result, where=unknown[..., None])
    return out


def _known_stats(image: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of the known pixels; grey and ``GREY_STD`` if none."""
    index = np.flatnonzero(known)
    if index.size == 0:
        return np.full(3, GREY), np.full(3, GREY_STD)
    pixels = np.ascontiguousarray(np.take(image.reshape(-1, 3), index, axis=0).T, dtype=np.float64)
    return pixels.mean(axis=1), pixels.std(axis=1)


def _merge(dst: np.ndarray, src: np.ndarray | np.uint8, where: np.ndarray) -> None:
    """dst = src where ``where``, in place, as modular uint8 arithmetic.

    dst + (src - dst) * where wraps around exactly to src or dst; unlike a masked copy
    (np.copyto(..., where=)), numpy runs it as plain vectorised array operations.
    """
    change = np.subtract(src, dst, dtype=np.uint8)
    change *= where
    dst += change


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the True pixels, or None when there are none."""
    rows, cols = mask.any(axis=1), mask.any(axis=0)
    if not rows.any():
        return None
    y0, y1 = int(rows.argmax()), len(rows) - int(rows[::-1].argmax())
    x0, x1 = int(cols.argmax()), len(cols) - int(cols[::-1].argmax())
    return y0, y1, x0, x1


def _edge(out: np.ndarray, known: np.ndarray, unknown: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Push-pull fill of ``unknown`` in ``out`` from the known colours.

    Push: halve the resolution repeatedly, summing premultiplied (rgb * w, w) over 2x2
    blocks and renormalising so w stays in [0, 1] (w = min(1, sum of child weights)).
    Pull: from the coarsest level down, each level keeps its own colour where it has weight
    and takes the upsampled coarser result where it lacks it: F_l = P_l + (1 - w_l) *
    up(F_l+1). An unknown pixel d px from the known thus gets its colour from a level about
    log2(d) coarser, an average over about d px: blur grows with distance.

    ``up`` is bilinear weighted by the coarse coverage, up(F (w + eps)) / up(w + eps): plain
    bilinear would mix three parts of the (already blurred) unknown block into every pixel
    next to the known, and fine detail would fade within a few pixels of the edge.

    Levels are planar (channel, y, x) float32: numpy's per-pixel work on interleaved rgb
    runs three-element inner loops, far slower than whole rows. Full resolution is never
    held in float: level 1 is summed straight from the uint8 image, and the last
    upsampling covers only the unknown pixels' bounding box, a channel at a time.
    """
    planes = _known_planes(out, known)
    pyramid = [_level1(planes, known)]
    while max(pyramid[-1].shape[1:]) > 1:
        pyramid.append(_down2(pyramid[-1]))
    coarse = pyramid.pop()
    result = coarse[:3] / coarse[3:]  # every known pixel is under the 1 x 1 top: w > 0
    for level in reversed(pyramid):
        up = _weighted_up2(result, coarse[3], level.shape[1:])
        up -= level[3:] * up
        up += level[:3]
        result, coarse = up, level
    # Full resolution: known pixels keep their own colour, so only up(F_1) is needed,
    # inside the bounding box of the unknown (plus a coarse pixel of margin).
    y0, y1, x0, x1 = box
    cy0, cy1 = max(y0 // 2 - 1, 0), min((y1 - 1) // 2 + 2, result.shape[1])
    cx0, cx1 = max(x0 // 2 - 1, 0), min((x1 - 1) // 2 + 2, result.shape[2])
    shape = (2 * (cy1 - cy0), 2 * (cx1 - cx0))
    crop = np.s_[y0 - 2 * cy0 : y1 - 2 * cy0, x0 - 2 * cx0 : x1 - 2 * cx0]
    weight = coarse[3, cy0:cy1, cx0:cx1] + np.float32(EDGE_EPS)
    inverse = np.reciprocal(_up2(weight, shape)[crop])
    where = unknown[y0:y1, x0:x1]
    for c in range(3):
        # up((F + 0.5) w) / up(w) = up(F w) / up(w) + 0.5: rounding folded in at a quarter
        # of the size. Values are convex combinations of known ones, so within [0, 255.5].
        plane = _up2((result[c, cy0:cy1, cx0:cx1] + np.float32(0.5)) * weight, shape)[crop]
        plane *= inverse
        # The known colours are in the premultiplied planes and unknown pixels are 0
        # there: adding the masked fill merges them, on one contiguous plane.
        merged = plane.astype(np.uint8)
        merged *= where.view(np.uint8)
        merged += planes[c, y0:y1, x0:x1]
        out[y0:y1, x0:x1, c] = merged  # one strided pass per channel


def _weighted_up2(colour: np.ndarray, weight: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """up(colour * (w + eps)) / up(w + eps), all planes upsampled in one pass."""
    stacked = np.empty((4,) + weight.shape, np.float32)
    np.add(weight, np.float32(EDGE_EPS), out=stacked[3])
    np.multiply(colour, stacked[3], out=stacked[:3])
    up = _up2(stacked, shape)
    colour_up = up[:3]
    colour_up *= np.reciprocal(up[3])
    return colour_up


def _known_planes(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(3, h, w) uint8 planes of ``image`` premultiplied by ``known``: 0 where unknown.

    Copied a channel at a time: numpy's transposing copy of interleaved rgb runs
    three-element inner loops, about seven times slower.
    """
    h, w = known.shape
    planes = np.empty((3, h + h % 2, w + w % 2), np.uint8)  # odd sizes get a zero-weight edge
    planes[:, h:] = 0
    planes[:, :, w:] = 0
    k = known.view(np.uint8)
    for c in range(3):
        plane = planes[c, :h, :w]
        plane[...] = image[..., c]
        plane *= k  # uint8 by uint8: no cast from bool, whole rows at a time
    return planes


def _level1(planes: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The first push step, (P_r, P_g, P_b, w) at half resolution, from premultiplied uint8 planes."""
    h, w = known.shape
    k = known.view(np.uint8)
    if h % 2 or w % 2:
        k = np.pad(k, ((0, h % 2), (0, w % 2)))
    count = k[0::2] + k[1::2]
    count = count[:, 0::2] + count[:, 1::2]
    rows = np.add(planes[:, 0::2], planes[:, 1::2], dtype=np.uint16)
    level = np.empty((4,) + count.shape, np.float32)
    level[:3] = rows[:, :, 0::2] + rows[:, :, 1::2]  # integer sums (<= 1020), exact in float32
    np.minimum(count, 1, out=level[3], casting="unsafe")
    scale = np.maximum(count, 1).astype(np.float32)
    np.reciprocal(scale, out=scale)
    level[:3] *= scale
    return level


def _down2(a: np.ndarray) -> np.ndarray:
    """2x2 premultiplied sums with renormalised weight; odd sizes get a zero-weight edge."""
    _, h, w = a.shape
    if h % 2 or w % 2:
        a = np.pad(a, ((0, 0), (0, h % 2), (0, w % 2)))
    rows = a[:, 0::2] + a[:, 1::2]
    s = rows[:, :, 0::2] + rows[:, :, 1::2]
    s /= np.maximum(s[3:], 1.0)
    return s


def _up2(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear 2x upsampling of the last two axes (edges clamped), cropped to ``shape``."""
    y, x = a.ndim - 2, a.ndim - 1
    a = _up2_axis(a, y)[(slice(None),) * y + (slice(0, shape[0]),)]
    return _up2_axis(a, x)[(slice(None),) * x + (slice(0, shape[1]),)]


def _up2_axis(a: np.ndarray, axis: int) -> np.ndarray:
    shape = list(a.shape)
    shape[axis] *= 2
    out = np.empty(shape, np.float32)

    def at(s: slice) -> tuple[slice, ...]:
        return (slice(None),) * axis + (s,)

    # Output 2i sits a quarter pixel before input i, 2i + 1 a quarter after:
    # out[2i] = a[i] - (a[i] - a[i-1]) / 4, out[2i+1] = a[i] + (a[i+1] - a[i]) / 4.
    even, odd = out[at(slice(0, None, 2))], out[at(slice(1, None, 2))]
    quarter_step = np.subtract(a[at(slice(1, None))], a[at(slice(None, -1))])
    quarter_step *= np.float32(0.25)
    np.subtract(a[at(slice(1, None))], quarter_step, out=even[at(slice(1, None))])
    np.add(a[at(slice(None, -1))], quarter_step, out=odd[at(slice(None, -1))])
    even[at(slice(0, 1))] = a[at(slice(0, 1))]  # edges clamp: the missing neighbour is itself
    odd[at(slice(-1, None))] = a[at(slice(-1, None))]
    return out
