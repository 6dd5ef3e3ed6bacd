"""Building the server's messages: rectangles, revisions, history, in the protocol's shape."""

from __future__ import annotations

from typing import Any

from canvas.store import Revision, Store
from tiler.rect import Rect


def box(rect: Rect) -> dict[str, int]:
    return {"x": rect.x, "y": rect.y, "w": rect.w, "h": rect.h}


def revision(rev: Revision) -> dict[str, Any]:
    # The window plan stays out: it is bookkeeping, and long.
    info = {key: value for key, value in rev.info.items() if key != "plan"}
    return {
        "rev": rev.id, "kind": rev.kind, "status": rev.status, "created": rev.created,
        "active": rev.active, "params": rev.params, "info": info,
    }


def history(store: Store, kind: str = "history.changed") -> dict[str, Any]:
    """The whole history; read it off the event loop (it is a query)."""
    return {"type": kind, "head": store.head, "revisions": [revision(rev) for rev in store.history()]}


def error(code: str, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "id": request_id}
