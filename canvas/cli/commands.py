"""What each `boundless` command does. Everything is validated before a canvas is touched."""

from __future__ import annotations

import argparse
import contextlib
import datetime
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from canvas.cli.errors import UserError
from canvas.cli.images import MAX_PIXELS, load_image, load_mask
from canvas.cli.models import open_library
from canvas.cli.painting import painter_options, painter_pool, uses_pool
from canvas.cli.progress import ProgressBar, VideoBar
from canvas.cli.segmenting import Pointing, open_segmenter, wants_segment
from canvas.jobs import Expand, Inpaint, JobError, JobSpec, Target, TilerSettings, recorded_params, run_steps
from canvas.jobs.pool import profile_of
from canvas.jobs.spec import prefill_for
from canvas.jobs.guided import GrowTo, full_body, guided_steps
from canvas.jobs.schedule import PromptSchedule
from canvas.jobs.zoom import zoom_out_steps
from canvas.library import LibraryError
from canvas.library.records import models_record
from canvas.painters import PaintRequest, create_painter, defaults_of
from canvas.painters.diffusion.lora_tags import LoraTagError, find_loras, painter_family, parse_lora_tags
from canvas.painters.diffusion.settings import masked_content
from canvas.store import Store
from canvas.video import VideoError, VideoSettings, render_video
from tiler.rect import Rect


def expand(args: argparse.Namespace) -> int:
    amounts = {side: getattr(args, side) or args.all for side in ("left", "right", "up", "down")}
    if args.all < 0:
        raise UserError(f"--all must not be negative, got {args.all}")
    return _run(args, Expand(**amounts))


def inpaint(args: argparse.Namespace) -> int:
    if wants_segment(args):
        return _inpaint_segment(args)
    if not args.mask:
        raise UserError("say what to repaint: --mask PNG, or --segment X,Y (and --segmenter MODEL)")
    if args.image:
        image = load_image(args.image)
        mask = load_mask(args.mask, image.shape[:2])
        return _run(args, Inpaint(mask, 0, 0), image)
    mask = load_mask(args.mask)
    return _run(args, Inpaint(mask, *args.at))


def _inpaint_segment(args: argparse.Namespace) -> int:
    """The mask from --segment clicks on IMAGE (its pixels) or on what --canvas holds (level 0)."""
    pointing = Pointing.of(args)
    if args.image:
        image = load_image(args.image)
        region = Rect(0, 0, image.shape[1], image.shape[0])
    elif args.canvas:
        with _existing(args.canvas) as store:
            region = store.bounds(0)
            if region.empty:
                raise UserError(f"{args.canvas} is empty: nothing to point at")
            if region.area > MAX_PIXELS:
                raise UserError(f"{args.canvas} holds {region.w}x{region.h} px, too many to segment at once: "
                                "export the part to repair and give it as IMAGE")
            image = store.read(0, region)
    else:
        raise UserError("give an IMAGE, or --canvas to work on what a canvas holds")
    segmenter = open_segmenter(args.segmenter, args)
    mask = pointing.mask(segmenter, image, region, args.grow, quiet=args.quiet)
    return _run(args, Inpaint(mask, region.x, region.y), image if args.image else None)


def zoomout(args: argparse.Namespace) -> int:
    schedule = PromptSchedule.parse(args.at_step)
    given = Rect(*args.frame) if args.frame else None
    if given is not None and given.empty:
        raise UserError("--frame must have a positive width and height")
    zoom_out_steps(given or Rect(0, 0, 512, 512), args.zoom_steps, args.factor)  # checked before any file is made

    def make(store: Store, request: PaintRequest, tiler: TilerSettings) -> list[JobSpec]:
        frame = given or store.bounds(0)
        return zoom_out_steps(frame, args.zoom_steps, args.factor, request, tiler, schedule)

    record = {"zoom_steps": args.zoom_steps, "factor": args.factor, **({"schedule": schedule.as_dict()} if schedule.entries else {})}
    return _run(args, ("zoomout", record, make, [prompt for _, prompt in schedule.entries]))


def grow(args: argparse.Namespace) -> int:
    anchor = args.anchor or ("top" if args.preset else "center")
    goal = None
    if args.to:
        width, height = _pair(args.to, "x", "--to")
        goal = GrowTo(width=width, height=height, anchor=anchor)
    elif args.aspect:
        w, h = _pair(args.aspect, ":", "--aspect")
        goal = GrowTo(aspect=w / h, anchor=anchor)

    def make(store: Store, request: PaintRequest, tiler: TilerSettings) -> list[JobSpec]:
        bounds = store.bounds(0)
        return guided_steps(bounds, goal or full_body(bounds), args.stage_prompt, request, tiler)

    record = {"preset": args.preset} if args.preset else {"to": args.to or f"aspect {args.aspect}", "anchor": anchor}
    return _run(args, ("grow", record, make, list(args.stage_prompt or ())))


def video(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if not output.parent.is_dir():
        raise UserError(f"{args.output}: the folder {output.parent} does not exist")
    width, height = _pair(args.size, "x", "--size")
    try:
        settings = VideoSettings(width=width, height=height, fps=args.fps, duration=args.seconds, hold=args.hold,
                                 easing=args.easing, direction="in" if args.inwards else "out")
        with _existing(args.canvas) as store:
            bar = VideoBar(enabled=not args.quiet)
            stats = render_video(store, output, settings, progress=bar)
    except VideoError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {output} ({stats.frames} frames of {width}x{height}, {stats.levels} levels, "
          f"zoom x{stats.zoom:.0f}, {stats.seconds:.1f} s to render)")
    return 0


def _pair(text: str, sep: str, flag: str) -> tuple[int, int]:
    """ "1920x1080" or "16:9" as two positive whole numbers."""
    first, found, second = text.partition(sep)
    if not found or not first.strip().isdigit() or not second.strip().isdigit() or int(first) < 1 or int(second) < 1:
        raise UserError(f"{flag} is two whole numbers like 1920{sep}1080, got {text!r}")
    return int(first), int(second)


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


# A job of several stages: its kind, what the history records of it, its specs made from
# the canvas (as it is when the job starts) and the painting and tiling settings, and the
# prompts its stages paint with besides the job's own (checked before anything is made).
Staged = tuple[str, dict[str, Any], Callable[[Store, PaintRequest, TilerSettings], list[JobSpec]], list[str]]


def _run(args: argparse.Namespace, target: Target | Staged, image: np.ndarray | None = None) -> int:
    """Validate everything, then open or create the canvas, paint, and write the output."""
    if image is None and args.image:
        image = load_image(args.image)
    if image is None and not args.canvas:
        raise UserError("give an IMAGE, or --canvas to work on what a canvas holds")
    if not args.output and not args.canvas:
        raise UserError("say where the result goes: -o OUT.png, --canvas FILE, or both")
    output = _output_path(args.output) if args.output else None
    options = painter_options(args, [args.painter])  # checks the painter's names first: one line, no torch
    request, tiler = _settings(args)
    strategy = _strategy(args)
    library = open_library(args.models) if args.painter == "diffusion" and args.models else None
    with _painting(args, options.get(args.painter, {})) as (painter, pool):
        # Steps, guidance and strength not given are the painter's (a model family's) defaults.
        request = replace(request, **{key: value for key, value in defaults_of(painter).items() if getattr(args, key) is None})
        stage_prompts = target[3] if isinstance(target, tuple) else []
        if args.painter == "diffusion":
            _check_loras(library, [request.prompt, *stage_prompts], painter)
        native = getattr(painter, "native_window", None)
        if args.window is None and native:  # the size the model was trained at
            tiler = replace(tiler, window=native)
        with _canvas_for(args.canvas, image) as store:
            progress = ProgressBar(enabled=not args.quiet)
            if isinstance(target, tuple):
                kind, record, make, _ = target
                specs = [replace(spec, **strategy) for spec in make(store, request, tiler)]
                # The model, and the LoRAs and embeddings of the prompts the stages paint with.
                models = models_record(library, specs[0].request, painter, [s.request.prompt for s in specs[1:]])
                params = {**recorded_params(specs[0], painter), **models, **record, "target": kind}
                result = run_steps(store, painter, specs, kind=kind, params=params, on_event=progress, pool=pool)
            else:
                spec = JobSpec(target, request=request, tiler=tiler, **strategy)
                params = {**recorded_params(spec, painter), **models_record(library, request, painter)}
                result = run_steps(store, painter, [spec], params=params, on_event=progress, pool=pool)
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


def _check_loras(library: Any, prompts: list[str], painter: Any) -> None:
    """The prompts' LoRA tags, found in the library and of the model's family: one line if not."""
    try:
        for prompt in prompts:
            find_loras(library, parse_lora_tags(prompt).loras, painter_family(painter))
    except (LoraTagError, LibraryError) as exc:
        raise UserError(str(exc)) from None


@contextlib.contextmanager
def _painting(args: argparse.Namespace, options: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """(painter, pool): the painter built here, no pool (`--painters 1`); or the pool of
    `--painters N` processes or `--ray` actors, closed after the job, and its painter's
    profile for the record and the native window."""
    if not uses_pool(args):
        try:
            painter = create_painter(args.painter, **options)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        yield painter, None
        return
    pool = painter_pool(args, args.painter, options)
    try:
        yield profile_of(pool, args.painter), pool
    finally:
        pool.close()


def _settings(args: argparse.Namespace) -> tuple[PaintRequest, TilerSettings]:
    diffusion = args.painter == "diffusion"
    settings = TilerSettings(
        window=args.window or TilerSettings().window,
        context=args.context,
        pad=args.pad,
        feather=args.feather,
        # Masked content "original" starts from the canvas's own pixels: the job's prefill.
        prefill=prefill_for({"masked_content": masked_content(args.masked_content)}, args.prefill) if diffusion else args.prefill,
        colour_match=args.colour_match,
    )
    for name, low, high in (("seed", 0, 2**32 - 1), ("steps", 1, 150), ("guidance", 0.0, 30.0), ("strength", 0.0, 1.0)):
        value = getattr(args, name)
        if value is not None and not low <= value <= high:
            raise UserError(f"--{name} must be between {low} and {high}, got {value}")
    request = PaintRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        **{key: getattr(args, key) for key in ("steps", "guidance", "strength") if getattr(args, key) is not None},
    )
    return request, settings


def _strategy(args: argparse.Namespace) -> dict[str, Any]:
    """`--strategy` and `--refine-strength` as JobSpec fields (commands without them: tiles)."""
    if not hasattr(args, "strategy"):
        return {}
    if not 0.0 <= args.refine_strength <= 1.0:
        raise UserError(f"--refine-strength must be between 0 and 1, got {args.refine_strength}")
    return {"strategy": args.strategy, "refine_strength": args.refine_strength}


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
