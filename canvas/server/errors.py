"""Typed errors: every refusal the server gives has a stable code, a message and a status.

The code is for programs (the client switches on it), the message is for people. HTTP
answers `{"error": {"code", "message"}}` with `status`; the websocket sends an `error`
message and keeps the connection open.
"""

from __future__ import annotations

from canvas.store.errors import storage_problem


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def payload(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


def bad(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(code, message, 400)


def not_found(message: str) -> ApiError:
    return ApiError("not_found", message, 404)


def conflict(code: str, message: str) -> ApiError:
    return ApiError(code, message, 409)


def too_large(message: str) -> ApiError:
    return ApiError("too_large", message, 413)


# A disk that refuses a write (canvas/store/errors.py): HTTP status by what it means.
STORAGE_STATUS = {"disk_full": 507, "read_only": 503, "io_error": 503}
STORAGE_MESSAGE = {
    "disk_full": "the disk holding the canvases is full; nothing was written. Free some space and try again",
    "read_only": "the canvases' folder is read-only; nothing was written",
    "io_error": "the disk holding the canvases failed a read or write; nothing was written",
}


def storage(exc: BaseException) -> ApiError | None:
    """The typed error for the disk failing (full, read-only, I/O); None for anything else."""
    problem = storage_problem(exc)
    if problem is None:
        return None
    return ApiError(problem, f"{STORAGE_MESSAGE[problem]} ({type(exc).__name__}: {exc})", STORAGE_STATUS[problem])
