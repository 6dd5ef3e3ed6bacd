"""Who may talk to the server: the Host and Origin checks and the token, as ASGI middleware.

- Origin: a websocket, and an HTTP request that changes state, carrying an Origin other
  than the server's own (scheme://Host) is refused: a page on another site must not
  drive a canvas through the user's browser. Requests without Origin (curl, scripts)
  pass; browsers always send one on these requests.
- Host: with no token (a loopback bind), the Host header must name the loopback, so a
  DNS-rebinding page cannot become "same origin".
- Token: when set, every request needs it: `Authorization: Bearer T`, `?token=T`, or
  the cookie that opening `/?token=T` sets. It is compared in constant time and
  redacted from the access log.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from canvas.server.errors import ApiError

COOKIE = "boundless_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        try:
            self.check(scope)
        except ApiError as exc:
            if scope["type"] == "websocket":
                # Closing before accepting makes the server answer the handshake with 403.
                return await send({"type": "websocket.close", "code": 1008, "reason": exc.code})
            return await JSONResponse(exc.payload(), exc.status)(scope, receive, send)
        if scope["type"] == "http" and scope["path"] == "/" and self.token and "token" in QueryParams(scope["query_string"]):
            # The link with the token sets the cookie, then drops the token from the address bar.
            response = RedirectResponse("/", 303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.token is None and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            raise ApiError("bad_host", "this server answers only to a loopback host name", 403)
        if self.token is not None and not self._has_token(scope, headers):
            raise ApiError("unauthorized", "a token is needed: Authorization: Bearer, ?token=, or open /?token=", 401)
        origin = headers.get("origin")
        changes = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if changes and origin is not None and not _same_origin(origin, host, scope):
            raise ApiError("bad_origin", "requests from another origin are refused", 403)

    def _has_token(self, scope: Scope, headers: Headers) -> bool:
        assert self.token is not None
        offered = []
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            offered.append(authorization[7:].strip())
        offered.append(QueryParams(scope["query_string"]).get("token", ""))
        offered.append(cookie_parser(headers.get("cookie", "")).get(COOKIE, ""))
        return any(hmac.compare_digest(value.encode(), self.token.encode()) for value in offered if value)


def _same_origin(origin: str, host: str, scope: Scope) -> bool:
    parts = urlsplit(origin)
    secure = scope.get("scheme") in ("https", "wss")
    return parts.scheme == ("https" if secure else "http") and parts.netloc.lower() == host.lower()


class RedactToken(logging.Filter):
    """Keeps `token=...` out of the access log and uvicorn's other request lines."""

    PATTERN = re.compile(r"(token=)[^&\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.PATTERN.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.PATTERN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


__all__ = ["COOKIE", "Guard", "RedactToken", "is_loopback"]
