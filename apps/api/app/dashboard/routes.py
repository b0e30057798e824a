"""The dashboard's own routes: sign in and out, the page shell, and its static files.

Everything but the sign-in page and its stylesheet needs a signed-in session; the pages
then use the public REST API with the session cookie (see `app.security`).
"""

from __future__ import annotations

import asyncio
import hmac
import html
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from ..config import Settings
from ..security import ServicesDep, get_sessions
from .sessions import COOKIE_NAME, SessionStore

STATIC = Path(__file__).resolve().parent / "static"
PUBLIC_ASSETS = frozenset({"style.css", "favicon.svg"})
"""Reachable without signing in: what the sign-in page itself needs."""
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
FAILED_SIGN_IN_DELAY = 0.5
"""Seconds a wrong key waits before the answer: guessing stays slow (the key is random anyway)."""
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def install(app: FastAPI, settings: Settings) -> None:
    """Give `app` the session store and the dashboard's routes."""
    app.state.sessions = SessionStore(settings.session_hours * 3600)
    app.include_router(router)


def _sessions(request: Request) -> SessionStore:
    sessions = get_sessions(request)
    assert sessions is not None, "dashboard routes without dashboard.routes.install()"
    return sessions


def _signed_in(request: Request) -> bool:
    return _sessions(request).valid(request.cookies.get(COOKIE_NAME))


def _same_origin(request: Request) -> bool:
    """Browsers send Origin with every form POST; one from another site is refused (login CSRF).
    Without Origin (curl, old browsers) there is no cross-site page involved."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status.HTTP_303_SEE_OTHER, headers={"Cache-Control": "no-store"})


def _login_page(message: str = "", status_code: int = 200) -> HTMLResponse:
    page = (STATIC / "login.html").read_text(encoding="utf-8")
    alert = f'<p class="alert" role="alert">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(page.replace("<!--message-->", alert), status_code, headers=HEADERS)


@router.get("/")
async def index(request: Request) -> Response:
    if not _signed_in(request):
        return _to("/login")
    return FileResponse(STATIC / "index.html", media_type=MEDIA_TYPES[".html"], headers=HEADERS)


@router.get("/login")
async def login_page(request: Request, ended: bool = False) -> Response:
    if _signed_in(request):
        return _to("/")
    return _login_page("You have been signed out, or your session ended." if ended else "")


@router.post("/login")
async def login(
    request: Request, services: ServicesDep, api_key: Annotated[str, Form(max_length=1000)] = ""
) -> Response:
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "sign-in from another site refused")
    key = api_key.strip()
    if not key:
        return _login_page("Enter the API key.", status.HTTP_400_BAD_REQUEST)
    if not hmac.compare_digest(key.encode(), services.settings.api_key.encode()):
        await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        return _login_page(
            "That key is not right. It is API_KEY in the server's .env file.", status.HTTP_401_UNAUTHORIZED
        )
    sessions = _sessions(request)
    sessions.end(request.cookies.get(COOKIE_NAME))  # a fresh id at each sign-in (no session fixation)
    response = _to("/")
    response.set_cookie(
        COOKIE_NAME,
        sessions.create(),
        max_age=int(sessions.ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "sign-out from another site refused")
    _sessions(request).end(request.cookies.get(COOKIE_NAME))
    response = _to("/login?ended=1")
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


@router.get("/static/{path:path}")
async def static_file(path: str, request: Request) -> Response:
    if path not in PUBLIC_ASSETS and not _signed_in(request):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first")
    file = (STATIC / path).resolve()
    media_type = MEDIA_TYPES.get(file.suffix)
    if not file.is_relative_to(STATIC) or media_type is None or not file.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(file, media_type=media_type, headers=HEADERS)
