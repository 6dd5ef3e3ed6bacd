"""`boundless serve`: the canvas server on uvicorn.

A token is required for a non-loopback bind (from --token or BOUNDLESS_TOKEN); it is
never printed or logged (the access log redacts `token=`).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from canvas.cli.errors import UserError
from canvas.cli.models import open_library
from canvas.cli.painting import painter_options, painter_pool, uses_pool
from canvas.cli.segmenting import open_segmenter
from canvas.painters import load_painters, painter_names
from canvas.painters.diffusion import ModelError


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from canvas.server import ServerConfig, create_app
    from canvas.server.app import UVICORN
    from canvas.server.security import RedactToken, is_loopback

    token = args.token or os.environ.get("BOUNDLESS_TOKEN") or None
    if not is_loopback(args.host) and not token:
        raise UserError(f"binding {args.host} opens the canvas to the network: give --token (or BOUNDLESS_TOKEN)")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    canvas = Path(args.canvas) if args.canvas else None
    if canvas is not None and canvas.is_dir():
        raise UserError(f"{canvas} is a folder; --canvas names a canvas file")
    # The segmenter first: a wrong one fails in a second, before a diffusion model loads.
    segmenter = open_segmenter(args.segmenter, args) if args.segmenter else None
    names = args.painter or ["patchmatch"]
    options = painter_options(args, names)
    timeout = args.window_timeout or None
    pooled = uses_pool(args)
    try:
        # Every painter loads once, here (or in each of its processes or actors); the
        # first one paints jobs that name none.
        wanted = painter_names(names)
        painters: dict[str, Any] = {} if pooled else load_painters(wanted, options)
    except ModelError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(f"--painter: {exc}") from None
    try:
        for name in wanted if pooled else ():
            painters[name] = painter_pool(args, name, options.get(name, {}), timeout)
    except BaseException:
        for pool in painters.values():
            pool.close()
        raise
    # The server's own view of the library: what `welcome` lists and jobs are checked
    # against. An in-process painter's library is that view, so that a `rescan` reaches the
    # painter too (a LoRA or an embedding added since it started); painter processes and
    # actors scan the same folders for themselves (the scan cache makes it cheap) and scan
    # again when a job names what they do not know.
    shared = [painter.library for painter in painters.values() if getattr(painter, "library", None) is not None]
    library = shared[0] if shared else open_library(args.models) if args.models else None
    app = create_app(ServerConfig(data=Path(args.data), canvas=canvas, token=token, window_timeout=timeout),
                     painters, segmenter, library)
    logging.getLogger("uvicorn.access").addFilter(RedactToken())
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Boundless: open http://{host}:{args.port}/" + (" (with ?token=...)" if token else ""), flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", **UVICORN)
    return 0
