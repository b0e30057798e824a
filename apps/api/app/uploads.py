"""Upload limits: request bodies are cut off while they are read, not after.

`BodyLimit` is ASGI middleware: a request to /api without valid credentials gets 401
before its body is read (so strangers cannot make the server read 400 MB); a declared
Content-Length over the limit gets 413 before a byte of the body is read, and a body
without length (chunked) gets 413 as soon as the bytes received pass the limit — so a
huge upload never fills memory or disk.

Any answer sent before the body has been read to its end (those, or a route refusing
early: an unknown person, a photo over the limit) says ``Connection: close``, so the
server drops the connection instead of reading the rest of the body to reuse it.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import MB
from .errors import error_response

MULTIPART_OVERHEAD = 64 * 1024
"""Room for multipart boundaries and small form fields beside the files."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def too_large(limit: int, what: str) -> str:
    return f"request body too large: the limit is {limit // MB} MB ({what})"


class _Body:
    """One request's body as the app reads it, and its answer: closes the connection when cut short."""

    def __init__(self, headers: Headers, receive: Receive, send: Send, limit: int, what: str) -> None:
        self._receive, self._send = receive, send
        self._limit, self._what = limit, what
        self.declared = headers.get("content-length")
        self._received = 0
        self._done = self.declared in (None, "0") and "transfer-encoding" not in headers

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._done = not message.get("more_body", False)
            if self._received > self._limit + MULTIPART_OVERHEAD:
                # Raised inside the route's body parsing; FastAPI passes HTTPException through.
                raise HTTPException(413, too_large(self._limit, self._what))
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self._done:
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await self._send(message)


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
        headers = Headers(scope=scope)
        body = _Body(headers, receive, send, limit, what)
        sends_body = scope["path"].startswith("/api/") and scope["method"] in BODY_METHODS
        if sends_body and not self.authorized(headers):
            detail = "missing or invalid X-API-Key header or session"
            await error_response("unauthorized", detail)(scope, body.receive, body.send)
        elif body.declared and body.declared.isdigit() and int(body.declared) > limit + MULTIPART_OVERHEAD:
            await error_response("too_large", too_large(limit, what))(scope, body.receive, body.send)
        else:
            await self.app(scope, body.receive, body.send)
