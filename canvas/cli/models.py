"""`boundless models`: what the models library finds in the --models folders.

    boundless models --models ~/stable-diffusion-webui --models ~/ComfyUI
    boundless models --models ~/ComfyUI --json --hashes     # every entry, its path and A1111 hash

Grouped by kind, then family; files that could not be used are listed with the reason.
Hashes are shown once known (a job that used the file, or --hashes, which reads every
file that has none yet: slow the first time for large checkpoints, then cached).
"""

from __future__ import annotations

import argparse
import json
from itertools import groupby

from canvas.cli.errors import UserError
from canvas.library import KINDS, Entry, Library, LibraryError
from canvas.painters.diffusion.families import FAMILIES

HEADINGS = {"checkpoint": "checkpoints", "diffusion_model": "diffusion models", "lora": "LoRAs",
            "embedding": "embeddings", "vae": "VAEs"}


def models(args: argparse.Namespace) -> int:
    library = open_library(args.models, scan=False)
    scan = library.rescan(full=args.rescan)
    if args.hashes:
        for entry in scan.list():
            library.hash(entry)
        scan = library.scan
    if args.json:
        print(json.dumps({"folders": [str(folder) for folder in scan.folders],
                          "entries": [entry.as_dict(paths=True) for entry in scan.list()],
                          "skipped": [skipped.as_dict() for skipped in scan.skipped],
                          "scan": {"read": scan.read, "cached": scan.cached, "seconds": round(scan.seconds, 4)}},
                         indent=2))
        return 0
    for line in listing(scan.list()):
        print(line)
    if scan.skipped:
        print(f"not used ({len(scan.skipped)}):")
        for skipped in scan.skipped:
            print(f"  {skipped.path}: {skipped.reason}")
    files = scan.read + scan.cached
    if any(entry.short_hash is None and entry.format != "diffusers" for entry in scan.list()):
        print("(a hash shows once known: a job used the file, or --hashes computes them)")
    print(f"{len(scan.entries)} entries; {files} files looked at in {scan.seconds * 1000:.0f} ms "
          f"({scan.read} read, {scan.cached} known from the cache)")
    return 0


def open_library(folders: list[str], scan: bool = True) -> Library:
    try:
        return Library(folders, scan=scan)
    except LibraryError as exc:
        raise UserError(f"--models {exc}") from None


def listing(entries: list[Entry]) -> list[str]:
    """Lines of the text listing: a heading per kind, a subheading per family, an entry a line."""
    lines: list[str] = []
    width = max((len(entry.name) for entry in entries), default=0)
    order = list(FAMILIES)
    for kind, of_kind in groupby(sorted(entries, key=lambda e: KINDS.index(e.kind)), key=lambda e: e.kind):
        of_kind = list(of_kind)
        lines.append(f"{HEADINGS[kind]} ({len(of_kind)}):")
        by_family = sorted(of_kind, key=lambda e: (order.index(e.family) if e.family in order else len(order), e.name.lower()))
        for family, group in groupby(by_family, key=lambda e: e.family):
            label = f"{FAMILIES[family].label} ({family})" if family in FAMILIES else "family unknown"
            lines.append(f"  {label}")
            for entry in group:
                lines.append(f"    {entry.name:<{width}}  {_size(entry.size):>9}  {entry.format:<11}  {entry.short_hash or '-'}")
    return lines


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
