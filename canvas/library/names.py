"""Library names: what a client sends instead of a path, checked like canvas names.

A name is the entry's path under its kind's folder, without the extension, with '/'
between folders (A1111's way: `<lora:styles/ink:0.8>`). The check refuses what could
never be a scanned name (a path that climbs out, a backslash, control characters), so a
bad request fails in one line; `Library.find` then only ever returns scanned entries.

    check_name("styles/ink")      # "styles/ink"
    check_name("../secrets")      # raises BadName
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from canvas.library.errors import BadName

MAX_NAME = 255
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")


def name_problem(name: Any) -> str | None:
    """Why `name` cannot be a library name, or None if it can."""
    if not isinstance(name, str) or not name:
        return "a library name is a non-empty string"
    if len(name) > MAX_NAME:
        return f"a library name is at most {MAX_NAME} characters"
    if _FORBIDDEN.search(name):
        return "a library name holds no backslash or control characters"
    if name != name.strip():
        return "a library name does not start or end with a space"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "a library name is folder names and a file name joined by '/' (no empty part, '.' or '..')"
    return None


def check_name(name: Any) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise BadName(f"{problem}, got {name!r}"[:300])
    return name


def name_of(relative: PurePosixPath, is_file: bool) -> str:
    """The library name of a file or folder at `relative` under its kind's folder."""
    parts = relative.parts
    stem = parts[-1]
    if is_file:
        stem = stem[: -len(_extension(stem))] if _extension(stem) else stem
    return "/".join((*parts[:-1], stem))


def _extension(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:] if dot > 0 else ""
