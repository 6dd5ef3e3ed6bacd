"""Typed errors: every refusal the server gives has a stable code, a message and a status.

The code is for programs (the client switches on it), the message is for people. HTTP
answers `{"error": {"code", "message"}}` with `status`; the websocket sends an `error`
message and keeps the connection open.
"""

from __future__ import annotations


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
