"""Upload limits: request bodies are cut off while they are read, not after.

`BodyLimit` is ASGI middleware: a request to /api without valid credentials gets 401
before its body is read (so strangers cannot make the server read 400 MB); a declared
Content-Length over the limit gets 413 before a byte of the body is read, and a body
without length (chunked) gets 413 as soon as the bytes received pass the limit — so a
huge upload never fills memory or disk.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

MULTIPART_OVERHEAD = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Room for multipart boundaries and small form fields beside the files."""


def too_large(limit: int, what: str) -> str:
    return f"request body too large: the limit is {limit // (1024 * 1024)} MB ({what})"


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        limit_for: Callable[[str], tuple[int, str] | None],
        authorized: Callable[[Headers], bool],
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.authorized = authorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self.limit_for(scope["path"]) if scope["type"] == "http" else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        limit, what = rule
        sends_body = scope["path"].startswith("/api/") and scope["method"] in BODY_METHODS
        if sends_body and not self.authorized(Headers(scope=scope)):
            await _reject(
                scope, receive, send, 401, "unauthorized", "missing or invalid X-API-Key header or session"
            )
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            await _reject(scope, receive, send, 413, "too_large", too_large(limit, what))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit + MULTIPART_OVERHEAD:
                    # Raised inside the route's body parsing; FastAPI passes HTTPException through.
                    raise HTTPException(413, too_large(limit, what))
            return message

        await self.app(scope, limited, send)


async def _reject(scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str) -> None:
    # Connection: close, as the unread body cannot be skipped to reach the next request.
    await error_response(status, detail, code, {"connection": "close"})(scope, receive, send)
