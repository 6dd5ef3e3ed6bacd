"""The command line's arguments: one parser per command, shared groups for job settings."""

from __future__ import annotations

import argparse

from canvas.jobs import MAX_GROW, TilerSettings
from canvas.painters import PAINTERS
from tiler.prefill import PREFILL_MODES

DEFAULTS = TilerSettings()


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(
        prog="boundless",
        description="Grow images on an infinite canvas with PatchMatch or Stable Diffusion.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    expand = commands.add_parser(
        "expand",
        help="extend an image (or what a canvas holds) on any side",
        description="Extend IMAGE, or the content of --canvas, by N px on the chosen sides.",
    )
    expand.add_argument("image", nargs="?", help="the image to extend (leave out to grow what --canvas holds)")
    for side in ("left", "right", "up", "down", "all"):
        expand.add_argument(f"--{side}", type=int, default=0, metavar="N", help=f"px to add {_side_help(side)}")
    _output_arguments(expand)
    _job_arguments(expand)

    inpaint = commands.add_parser(
        "inpaint",
        help="repaint the masked part of an image (or of a canvas)",
        description="Repaint the pixels that MASK marks in white.",
    )
    inpaint.add_argument("image", nargs="?", help="the image to repair (leave out to inpaint --canvas)")
    inpaint.add_argument("--mask", required=True, help="PNG, white where pixels are repainted")
    inpaint.add_argument("--at", type=int, nargs=2, default=(0, 0), metavar=("X", "Y"),
                         help="where the mask's corner lies on --canvas (default 0 0)")
    _output_arguments(inpaint)
    _job_arguments(inpaint)

    add = commands.add_parser("import", help="place an image on a canvas", description="Place IMAGE on --canvas at X Y.")
    add.add_argument("image")
    add.add_argument("--canvas", required=True, help="canvas file (created if missing)")
    add.add_argument("--at", type=int, nargs=2, default=(0, 0), metavar=("X", "Y"), help="position of its corner")

    history = commands.add_parser("history", help="list a canvas's revisions", description="List the revisions of --canvas, newest last.")
    history.add_argument("--canvas", required=True)
    for name, text in (("undo", "step back over the last revision"), ("redo", "redo the revision undone last")):
        command = commands.add_parser(name, help=text, description=text.capitalize() + ".")
        command.add_argument("--canvas", required=True)

    export = commands.add_parser("export", help="write part of a canvas to a PNG",
                                 description="Write a rectangle of --canvas at a level to a PNG with its generation parameters.")
    export.add_argument("--canvas", required=True)
    export.add_argument("--rect", type=int, nargs=4, metavar=("X", "Y", "W", "H"),
                        help="rectangle in the level's pixels (default: all the content)")
    export.add_argument("--level", type=int, default=0, help="0 is full resolution, each level halves it")
    export.add_argument("-o", "--output", required=True, help="PNG file to write")
    serve = commands.add_parser("serve", help="serve canvases to the browser",
                                description="Serve the canvases of --data (and --canvas as the default) over HTTP and websockets.")
    serve.add_argument("--canvas", help="canvas file served as the default canvas (default: DATA/default.canvas)")
    serve.add_argument("--data", default="data", help="folder of canvases (default: ./data)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--painter", action="append", metavar="NAME",
                       help=f"a painter to offer, repeatable; the first is the jobs' default "
                            f"(one of: {', '.join(sorted(PAINTERS))}; default: patchmatch)")
    serve.add_argument("--token", help="secret every request must carry (default: $BOUNDLESS_TOKEN)")
    return parser


def _side_help(side: str) -> str:
    return "on every side" if side == "all" else f"on the {side}" if side in ("left", "right") else {"up": "on top", "down": "at the bottom"}[side]


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="PNG file to write the result to")
    parser.add_argument("--canvas", help="keep the work on this canvas file (created from IMAGE if given)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    painting = parser.add_argument_group("painting")
    painting.add_argument("--painter", default="patchmatch", choices=sorted(PAINTERS), help="default: patchmatch")
    painting.add_argument("--seed", type=int, default=0, help="same seed, same pixels (default 0)")
    painting.add_argument("--patch-size", type=int, default=3, help="PatchMatch patch radius (default 3)")
    painting.add_argument("--prompt", default="", help="what to paint (diffusion painters)")
    painting.add_argument("--negative-prompt", default="", help="what not to paint (diffusion painters)")
    tiling = parser.add_argument_group("windows and seams")
    tiling.add_argument("--window", type=int, default=DEFAULTS.window, help=f"largest window side, 512-1024 (default {DEFAULTS.window})")
    tiling.add_argument("--context", type=float, default=DEFAULTS.context, help=f"known share of each window (default {DEFAULTS.context})")
    tiling.add_argument("--pad", type=int, default=DEFAULTS.pad, help=f"px of known content repainted along seams (default {DEFAULTS.pad})")
    tiling.add_argument("--feather", type=int, default=DEFAULTS.feather, help=f"px of the seam blend (default {DEFAULTS.feather})")
    tiling.add_argument("--prefill", default=DEFAULTS.prefill, choices=PREFILL_MODES, help=f"start image of the unknown part (default {DEFAULTS.prefill})")
    tiling.add_argument("--no-colour-match", dest="colour_match", action="store_false", help="keep the painter's colours as they are")


__all__ = ["MAX_GROW", "Parser", "build_parser"]
