"""The command line's arguments: one parser per command, shared groups for job settings."""

from __future__ import annotations

import argparse

from canvas.jobs import MAX_GROW, PREFILLS, TilerSettings
from canvas.jobs.coarse import AUTO_WINDOWS
from canvas.jobs.guided import ANCHORS
from canvas.jobs.spec import DEFAULT_STRATEGY, REFINE_STRENGTH, STRATEGIES
from canvas.video.path import EASINGS
from canvas.painters import PAINTERS
from canvas.painters.diffusion import CHOICES, DEVICES, DTYPES
from canvas.painters.diffusion.settings import CONTROLNET_SCALE, CONTROLNET_SCALES, KEEP_MODELS, OFFLOADS, SOFT_MASK

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
    _strategy_arguments(expand)

    inpaint = commands.add_parser(
        "inpaint",
        help="repaint the masked part of an image (or of a canvas)",
        description="Repaint the pixels that MASK marks in white.",
    )
    inpaint.add_argument("image", nargs="?", help="the image to repair (leave out to inpaint --canvas)")
    inpaint.add_argument("--mask", help="PNG, white where pixels are repainted (or point at them: --segment)")
    inpaint.add_argument("--at", type=int, nargs=2, default=(0, 0), metavar=("X", "Y"),
                         help="where the mask's corner lies on --canvas (default 0 0)")
    _segment_arguments(inpaint)
    _output_arguments(inpaint)
    _job_arguments(inpaint)
    _strategy_arguments(inpaint)

    zoomout = commands.add_parser(
        "zoomout",
        help="see a picture from further and further away, each step at a coarser level",
        description="Zoom out around IMAGE (or what --canvas holds) --steps times: each step paints the ring "
                    "around a shrunken copy at the next coarser level of the canvas, as one job.",
    )
    zoomout.add_argument("image", nargs="?", help="the picture to zoom out from (leave out to zoom out --canvas)")
    zoomout.add_argument("--steps", dest="zoom_steps", type=int, default=4, metavar="N", help="zoom-out steps (default 4)")
    zoomout.add_argument("--factor", type=float, default=2.0, help="how much further away each step sees, 1.5-4 (default 2)")
    zoomout.add_argument("--frame", type=int, nargs=4, metavar=("X", "Y", "W", "H"),
                         help="the frame zoomed out around, at level 0 (default: all the content)")
    zoomout.add_argument("--at-step", action="append", default=[], metavar="N:PROMPT",
                         help="the prompt from step N on, repeatable: --at-step '3:a village in the valley'")
    _output_arguments(zoomout)
    _job_arguments(zoomout, steps_flag="--sampling-steps")

    grow = commands.add_parser(
        "grow",
        help="grow a picture to a size or an aspect ratio in stages, as one job",
        description="Grow IMAGE (or what --canvas holds) to --to WxH, --aspect W:H or a --preset: vertically "
                    "first, one stage per --stage-prompt, then sideways.",
    )
    grow.add_argument("image", nargs="?", help="the picture to grow (leave out to grow --canvas)")
    goal = grow.add_mutually_exclusive_group(required=True)
    goal.add_argument("--to", metavar="WxH", help="the size to reach, like 1920x1080")
    goal.add_argument("--aspect", metavar="W:H", help="the ratio to reach by growing one side, like 16:9")
    goal.add_argument("--preset", choices=("full-body",), help="full-body: a headshot down to four times its height, out to 2:3")
    grow.add_argument("--anchor", choices=ANCHORS, help="where the original stays (default centre; top for full-body)")
    grow.add_argument("--stage-prompt", action="append", default=[], metavar="PROMPT",
                      help="the prompt of one vertical stage, in order, repeatable")
    _output_arguments(grow)
    _job_arguments(grow)
    _strategy_arguments(grow)

    video = commands.add_parser(
        "video",
        help="write a zoom through every level of a canvas as MP4, WebP or GIF",
        description="Zoom from the innermost content of --canvas out to all of it (or back, --in) and write it to -o.",
    )
    video.add_argument("--canvas", required=True)
    video.add_argument("-o", "--output", required=True, help="zoom.mp4, zoom.webp or zoom.gif")
    video.add_argument("--size", default="512x512", metavar="WxH", help="frame size, even numbers (default 512x512)")
    video.add_argument("--fps", type=int, default=30, help="frames a second (default 30)")
    video.add_argument("--seconds", type=float, default=10.0, help="length, holds included (default 10)")
    video.add_argument("--hold", type=float, default=0.5, help="seconds still at each end (default 0.5)")
    video.add_argument("--easing", default="ease-in-out", choices=EASINGS, help="default: ease-in-out")
    video.add_argument("--in", dest="inwards", action="store_true", help="zoom in, from the whole canvas to the innermost content")
    video.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

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
    _pool_arguments(serve, "each served painter")
    serve.add_argument("--segmenter", metavar="MODEL", help="a Segment Anything model (SAM or SAM-HQ: transformers "
                       "folder or hub id) for the client's select tool")
    serve.add_argument("--token", help="secret every request must carry (default: $BOUNDLESS_TOKEN)")
    serve.add_argument("--window-timeout", type=float, default=600, metavar="SECONDS",
                       help="a window painting longer fails its job with `timeout` (default 600; 0: no limit)")
    _model_arguments(serve)
    models = commands.add_parser("models", help="list the checkpoints, LoRAs, embeddings and VAEs in models folders",
                                 description="Scan --models folders (A1111's or ComfyUI's layout, or a plain folder) "
                                             "and list what they hold, by kind and family.")
    library_arguments(models, required=True)
    models.add_argument("--json", action="store_true", help="print the entries (with paths and hashes) as JSON")
    models.add_argument("--rescan", action="store_true", help="read every file again, whatever the scan cache says")
    models.add_argument("--hashes", action="store_true", help="compute A1111's hash of every entry that has none "
                        "yet (reads whole files: slow once for large checkpoints, then cached)")
    worker = commands.add_parser(
        "worker", help="join this machine to the Ray cluster `serve --ray` paints on",
        description="Run `ray start --block` so this machine's CPUs and GPUs take painter actors of "
                    "`boundless serve --ray`: --address HEAD:PORT joins a cluster, --head starts one here. "
                    "The command is printed before it runs. A cluster with token authentication "
                    "(RAY_AUTH_MODE=token) needs the head's token in RAY_AUTH_TOKEN.")
    worker.add_argument("--address", metavar="HEAD:PORT", help="the head node to join (e.g. 10.0.0.5:6379)")
    worker.add_argument("--head", action="store_true", help="start the cluster's head on this machine instead")
    worker.add_argument("--port", type=int, default=6379, help="the head's port with --head (default 6379)")
    worker.add_argument("--num-gpus", type=int, metavar="N", help="GPUs to offer (default: Ray detects them)")
    worker.add_argument("--num-cpus", type=int, metavar="N", help="CPUs to offer (default: Ray detects them)")
    worker.add_argument("--dry-run", action="store_true", help="print the command and exit")
    return parser


def library_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, required: bool = False) -> None:
    """The models folders the library scans (canvas/library/)."""
    parser.add_argument("--models", action="append", required=required, default=None, metavar="DIR",
                        help="a models folder, repeatable: an A1111 or ComfyUI folder (or its models/), or a plain "
                             "folder of .safetensors/.ckpt/.gguf files; earlier folders win a shared name")


def _side_help(side: str) -> str:
    return "on every side" if side == "all" else f"on the {side}" if side in ("left", "right") else {"up": "on top", "down": "at the bottom"}[side]


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="PNG file to write the result to")
    parser.add_argument("--canvas", help="keep the work on this canvas file (created from IMAGE if given)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _segment_arguments(parser: argparse.ArgumentParser) -> None:
    """The mask made by pointing (canvas/cli/segmenting.py), instead of --mask."""
    group = parser.add_argument_group("mask by pointing (Segment Anything), instead of --mask")
    group.add_argument("--segment", action="append", default=[], metavar="X,Y",
                       help="a pixel of what to repaint, repeatable (negative numbers: --segment=-40,12)")
    group.add_argument("--segment-out", action="append", default=[], metavar="X,Y",
                       help="a pixel that is not part of it, repeatable")
    group.add_argument("--segment-box", metavar="X0,Y0,X1,Y1", help="a box around what to repaint")
    group.add_argument("--grow", type=int, default=0, metavar="PX", help="grow the segment by PX (shrink when negative; default 0)")
    group.add_argument("--segmenter", metavar="MODEL", help="SAM or SAM-HQ: a transformers folder or a hub id")


def _job_arguments(parser: argparse.ArgumentParser, steps_flag: str = "--steps") -> None:
    painting = parser.add_argument_group("painting")
    painting.add_argument("--painter", default="patchmatch", choices=sorted(PAINTERS), help="default: patchmatch")
    _pool_arguments(painting, "the painter")
    painting.add_argument("--seed", type=int, default=0, help="same seed, same pixels (default 0)")
    painting.add_argument("--patch-size", type=int, default=3, help="PatchMatch patch radius (default 3)")
    painting.add_argument("--prompt", default="", help="what to paint (diffusion painters)")
    painting.add_argument("--negative-prompt", default="", help="what not to paint (diffusion painters)")
    # Left out: the painter's own defaults (Stable Diffusion's 25, 7 and 1; FLUX.1 Fill's 50 steps at 30).
    painting.add_argument(steps_flag, dest="steps", type=int, help="sampling steps per window (diffusion; default: "
                          "the model's, 25 for SD)")
    painting.add_argument("--guidance", type=float, help="how closely to follow the prompt; 1 or less: "
                          "no guidance, twice as fast (diffusion; default: the model's, 7 for SD)")
    painting.add_argument("--strength", type=float, help="denoising strength, 0-1: below 1 keeps some "
                          "of the start image (diffusion; default 1)")
    _model_arguments(parser)
    tiling = parser.add_argument_group("windows and seams")
    tiling.add_argument("--window", type=int, default=None, help=f"largest window side, 512-1024 (default: the "
                        f"model's native size for diffusion, else {DEFAULTS.window})")
    tiling.add_argument("--context", type=float, default=DEFAULTS.context, help=f"known share of each window (default {DEFAULTS.context})")
    tiling.add_argument("--pad", type=int, default=DEFAULTS.pad, help=f"px of known content repainted along seams (default {DEFAULTS.pad})")
    tiling.add_argument("--feather", type=int, default=DEFAULTS.feather, help=f"px of the seam blend (default {DEFAULTS.feather})")
    tiling.add_argument("--prefill", default=DEFAULTS.prefill, choices=PREFILLS, help=f"start image of the unknown part (default {DEFAULTS.prefill})")
    tiling.add_argument("--no-colour-match", dest="colour_match", action="store_false", help="keep the painter's colours as they are")


def _strategy_arguments(parser: argparse.ArgumentParser) -> None:
    """How a big target is painted (canvas/jobs/coarse.py; README, "Big regions")."""
    group = parser.add_argument_group("big regions")
    group.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=STRATEGIES,
                       help="tiles: window by window at full resolution; coarse: the whole target at a coarse level "
                            f"first, then refined level by level; auto: coarse when it needs more than {AUTO_WINDOWS} "
                            f"windows (default {DEFAULT_STRATEGY})")
    group.add_argument("--refine-strength", type=float, default=REFINE_STRENGTH, metavar="X",
                       help=f"coarse: how far each finer level may depart from the coarser picture, 0-1 "
                            f"(default {REFINE_STRENGTH})")


def _pool_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    """How many painters paint the windows that may be painted at once (canvas/jobs/pool.py)."""
    parser.add_argument("--painters", type=int, default=1, metavar="N",
                        help=f"run {what} N times, in N processes (one per GPU, or per core for PatchMatch) "
                             "or as N Ray actors with --ray; default 1, in this process")
    parser.add_argument("--ray", metavar="ADDRESS", help="paint on a Ray cluster: its address (host:port, ray://...) "
                        "or auto (the one this machine belongs to); needs the ray extra")


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    """How the diffusion painter (`--painter diffusion`) loads its model and paints by default."""
    model = parser.add_argument_group("diffusion models (--painter diffusion)")
    model.add_argument("--model", help="hub id (owner/name), diffusers folder, or one .safetensors/.ckpt file (SD, "
                       "SDXL, FLUX.1 [Fill], FLUX.2 Klein, Z-Image, Qwen-Image, SD 3.x, Chroma); a transformer "
                       ".safetensors or .gguf file with --model-config; with --models, a model's name in the "
                       "library (a job may name another)")
    library_arguments(model)
    model.add_argument("--keep-models", type=int, default=KEEP_MODELS, metavar="N", help=f"with --models: loaded "
                       f"models kept, so switching back is instant (default {KEEP_MODELS})")
    model.add_argument("--model-memory", type=float, metavar="GB", help="with --models: GB loaded models may take "
                       "together (default: what the GPU, or the system, has free)")
    model.add_argument("--model-config", metavar="DIR", help="diffusers config folder for a single-file --model "
                       "(needed with --offline, and for every transformer or GGUF file: model_index.json, component "
                       "configs, tokenizer; the VAE and text encoders too for a transformer file)")
    model.add_argument("--offline", action="store_true", help="never touch the network: local files and the Hugging Face cache only")
    model.add_argument("--device", default="auto", choices=DEVICES, help="default: auto (cuda, then mps, then cpu)")
    model.add_argument("--dtype", default="auto", choices=DTYPES, help="default: auto (fp16 on CUDA, bf16 on CPUs "
                       "that have it, else fp32)")
    model.add_argument("--vae", help="a separate VAE, folder or hub id (e.g. a tiny autoencoder for speed)")
    # The same choices a job gives over the websocket (the painter's OPTIONS); names are
    # matched loosely here (`euler-a`), as people type them.
    scheduler, masked = CHOICES["scheduler"], CHOICES["masked_content"]
    model.add_argument("--scheduler", default=scheduler.default, metavar="NAME",
                       help=f"sampler: {', '.join(scheduler.choices)} (default: {scheduler.default})")
    model.add_argument("--masked-content", default=masked.default, metavar="MODE", help=f"what the masked part starts "
                       f"from below strength 1: {', '.join(masked.choices)} (default: {masked.default})")
    model.add_argument("--soft-mask", type=int, default=SOFT_MASK, metavar="PX", help=f"4-channel models: px over which "
                       f"new latents blend into known ones (0-128, default {SOFT_MASK})")
    low, high = CONTROLNET_SCALES
    model.add_argument("--controlnet", metavar="PATH", help="an inpaint ControlNet for a plain checkpoint: diffusers "
                       "folder, hub id or one .safetensors file (SD 1.5: e.g. lllyasviel/control_v11p_sd15_inpaint; SDXL)")
    model.add_argument("--controlnet-scale", type=float, default=CONTROLNET_SCALE, metavar="X",
                       help=f"how strongly the ControlNet steers ({low:g}-{high:g}, default {CONTROLNET_SCALE:g})")
    model.add_argument("--embeddings", action="append", default=[], metavar="DIR",
                       help="textual-inversion embeddings (.pt, .safetensors; A1111's embeddings/ folder): a folder "
                            "or one file, repeatable; a prompt uses one by its file name, e.g. easynegative")
    model.add_argument("--offload", choices=OFFLOADS, help="small GPUs, FLUX and the other pipeline families: keep "
                       "the weights on the CPU and move each model (model) or each layer (sequential, slowest) to the "
                       "CUDA GPU as it runs")
    model.add_argument("--attention-slicing", action="store_true", help="less GPU memory, a little slower")
    model.add_argument("--vae-tiling", action="store_true", help="encode and decode in tiles (large windows, small GPUs)")


__all__ = ["MAX_GROW", "Parser", "build_parser", "library_arguments"]
