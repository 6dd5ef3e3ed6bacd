"""What each `boundless` command does. Everything is validated before a canvas is touched."""

from __future__ import annotations

import argparse
import contextlib
import datetime
from pathlib import Path
from typing import Iterator

import numpy as np

from canvas.cli.errors import UserError
from canvas.cli.images import MAX_PIXELS, load_image, load_mask
from canvas.cli.progress import ProgressBar
from canvas.jobs import Expand, Inpaint, JobError, JobSpec, Target, TilerSettings, run_job
from canvas.painters import PaintRequest, create_painter
from canvas.store import Store
from tiler.rect import Rect


def expand(args: argparse.Namespace) -> int:
    amounts = {side: getattr(args, side) or args.all for side in ("left", "right", "up", "down")}
    if args.all < 0:
        raise UserError(f"--all must not be negative, got {args.all}")
    return _run(args, Expand(**amounts))


def inpaint(args: argparse.Namespace) -> int:
    if args.image:
        image = load_image(args.image)
        mask = load_mask(args.mask, image.shape[:2])
        return _run(args, Inpaint(mask, 0, 0), image)
    mask = load_mask(args.mask)
    return _run(args, Inpaint(mask, *args.at))


def import_image(args: argparse.Namespace) -> int:
    image = load_image(args.image)
    x, y = args.at
    with Store.open(args.canvas) as store:
        rev = store.import_image(image, x, y, params={"source": Path(args.image).name})
    print(f"{args.canvas}: revision {rev}, {image.shape[1]}x{image.shape[0]} px at ({x}, {y})")
    return 0


def history(args: argparse.Namespace) -> int:
    with _existing(args.canvas) as store:
        revisions = store.history()
        if not revisions:
            print("no revisions yet")
        for rev in revisions:
            when = datetime.datetime.fromtimestamp(rev.created).strftime("%Y-%m-%d %H:%M:%S")
            mark = "*" if rev.id == store.head else " " if rev.active else "~"
            print(f"{mark}{rev.id:>4}  {when}  {rev.kind:<7} {rev.status:<11} {_summary(rev.params, rev.info)}")
        print("(* head, ~ undone: redo brings it back)") if revisions else None
    return 0


def undo(args: argparse.Namespace) -> int:
    with _existing(args.canvas) as store:
        rev = store.undo()
    print(f"undid revision {rev.id} ({rev.kind})" if rev else "nothing to undo")
    return 0


def redo(args: argparse.Namespace) -> int:
    with _existing(args.canvas) as store:
        rev = store.redo()
    print(f"redid revision {rev.id} ({rev.kind})" if rev else "nothing to redo")
    return 0


def export(args: argparse.Namespace) -> int:
    output = _output_path(args.output)
    with _existing(args.canvas) as store:
        rect = Rect(*args.rect) if args.rect else store.bounds(args.level)
        if rect.empty:
            raise UserError("nothing to export: the canvas is empty at that level" if not args.rect else "the rectangle is empty")
        if rect.area > MAX_PIXELS:
            raise UserError(f"at most {MAX_PIXELS // 2**20} megapixels per export; use a higher --level or a smaller --rect")
        store.export_png(args.level, rect, output)
    print(f"wrote {output} ({rect.w}x{rect.h} px at level {args.level}, from ({rect.x}, {rect.y}))")
    return 0


def _run(args: argparse.Namespace, target: Target, image: np.ndarray | None = None) -> int:
    """Validate everything, then open or create the canvas, paint, and write the output."""
    if image is None and args.image:
        image = load_image(args.image)
    if image is None and not args.canvas:
        raise UserError("give an IMAGE, or --canvas to work on what a canvas holds")
    if not args.output and not args.canvas:
        raise UserError("say where the result goes: -o OUT.png, --canvas FILE, or both")
    output = _output_path(args.output) if args.output else None
    spec = _spec(args, target)
    try:
        painter = create_painter(args.painter, patch_size=args.patch_size)
    except ValueError as exc:
        raise UserError(str(exc)) from None

    with _canvas_for(args.canvas, image) as store:
        result = run_job(store, painter, spec, on_event=ProgressBar(enabled=not args.quiet))
        if result.status != "done":
            raise UserError(f"the job was {result.status} after {result.windows_done} windows")
        bounds = store.bounds(0)
        if output:
            store.export_png(0, bounds, output)
    where = f"{output} " if output else ""
    canvas = f", revision {result.rev} of {args.canvas}" if args.canvas else ""
    windows = len(result.windows)
    print(f"wrote {where}({bounds.w}x{bounds.h} px, {windows} window{'s' if windows != 1 else ''}, {result.seconds:.1f} s{canvas})")
    return 0


def _spec(args: argparse.Namespace, target: Target) -> JobSpec:
    settings = TilerSettings(
        window=args.window,
        context=args.context,
        pad=args.pad,
        feather=args.feather,
        prefill=args.prefill,
        colour_match=args.colour_match,
    )
    request = PaintRequest(prompt=args.prompt, negative_prompt=args.negative_prompt, seed=args.seed)
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed must be between 0 and {2**32 - 1}, got {args.seed}")
    return JobSpec(target, request=request, tiler=settings)


@contextlib.contextmanager
def _canvas_for(path: str | None, image: np.ndarray | None) -> Iterator[Store]:
    """The store a job runs on: in memory, an existing canvas, or a new one from `image`.

    A canvas created here is removed again if the job is refused, so a bad request never
    leaves a file behind.
    """
    if path is None:
        with Store.open(":memory:") as store:
            assert image is not None
            store.import_image(image, 0, 0)
            yield store
        return
    if image is None:
        with _existing(path) as store:
            yield store
        return
    if Path(path).exists():
        raise UserError(f"{path} already exists: leave out IMAGE to grow what it holds, or use `boundless import`")
    try:
        with Store.open(path) as store:
            store.import_image(image, 0, 0)
            yield store
    except (UserError, JobError):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(path + suffix).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _existing(path: str) -> Iterator[Store]:
    if not Path(path).is_file():
        raise UserError(f"{path}: no such canvas")
    with Store.open(path, create=False) as store:
        yield store


def _output_path(output: str) -> Path:
    path = Path(output)
    if path.suffix.lower() != ".png":
        raise UserError(f"{output}: the output must be a .png file")
    if not path.parent.is_dir():
        raise UserError(f"{output}: the folder {path.parent} does not exist")
    return path


def _summary(params: dict, info: dict) -> str:
    parts = [params["target"]] if params.get("target") else []
    if params.get("painter"):
        parts.append(f"{params['painter']} seed {params.get('seed', 0)}")
    if params.get("prompt"):
        parts.append(repr(params["prompt"][:40]))
    if "windows" in info:
        parts.append(f"{info['windows']} windows")
    if info.get("error"):
        parts.append(f"error: {info['error']}")
    if params.get("source"):
        parts.append(params["source"])
    return "; ".join(parts)


__all__ = ["expand", "export", "history", "import_image", "inpaint", "redo", "undo"]
