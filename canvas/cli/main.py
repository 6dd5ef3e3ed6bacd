"""`boundless COMMAND ...`: parse, run, and turn every failure into one line and a status.

Exit status: 0 done, 1 failed while working, 2 bad arguments or input (nothing written),
130 interrupted (Ctrl+C; windows already committed to a canvas stay, as one revision).
Set BOUNDLESS_DEBUG=1 to see the traceback behind an unexpected error.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import traceback
from typing import Sequence

from canvas.cli import commands
from canvas.cli.arguments import build_parser
from canvas.cli.errors import UserError
from canvas.cli.models import models
from canvas.cli.serve import serve
from canvas.cli.worker import worker
from canvas.jobs import JobError
from canvas.store import StoreError

HANDLERS = {
    "expand": commands.expand,
    "inpaint": commands.inpaint,
    "zoomout": commands.zoomout,
    "grow": commands.grow,
    "video": commands.video,
    "import": commands.import_image,
    "history": commands.history,
    "undo": commands.undo,
    "redo": commands.redo,
    "export": commands.export,
    "models": models,
    "serve": serve,
    "worker": worker,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args) or 0
    except (UserError, JobError) as exc:
        return _fail(str(exc), 2)
    except StoreError as exc:
        return _fail(str(exc), 2)
    except KeyboardInterrupt:
        return _fail("interrupted; windows already painted on the canvas stay there (undo removes them)", 130)
    except (OSError, sqlite3.Error) as exc:
        return _fail(str(exc), 1)
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        if os.environ.get("BOUNDLESS_DEBUG"):
            traceback.print_exc()
        return _fail(f"unexpected {type(exc).__name__}: {exc} (BOUNDLESS_DEBUG=1 shows where)", 1)


def _fail(message: str, code: int) -> int:
    print(f"boundless: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
