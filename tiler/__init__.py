"""Pure geometry and pixel maths for Boundless, on numpy arrays.

Rectangles and levels (`rect`), window planning (`planner`), generation masks and
feathered composite alpha (`masks`), prefill of the unknown (`prefill`), compositing
(`composite`), colour matching (`colour`) and the seam metric (`seams`).
No I/O, no torch, no server, nothing from `canvas`.
"""

from tiler.rect import Rect

__all__ = ["Rect"]
