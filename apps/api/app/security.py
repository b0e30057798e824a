"""Who may use /api: a client sending X-API-Key, or the dashboard's signed-in session cookie."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyCookie, APIKeyHeader
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from .dashboard.sessions import COOKIE_NAME, CSRF_HEADER, SessionStore
from .services import Services

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API_KEY from .env")
_session_cookie = APIKeyCookie(
    name=COOKIE_NAME,
    auto_error=False,
    description=f"The dashboard's session (sign in at /login); state-changing requests also need "
    f"the header {CSRF_HEADER}: 1",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_sessions(request: Request) -> SessionStore | None:
    """The dashboard's sessions, or None in an app built without the dashboard."""
    return getattr(request.app.state, "sessions", None)


def has_credentials(headers: Headers, api_key: str, sessions: SessionStore | None) -> bool:
    """A valid X-API-Key or session cookie, judged from headers alone (before any body is read)."""
    key = headers.get("x-api-key")
    if key is not None:
        return hmac.compare_digest(key.encode(), api_key.encode())
    session = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME)
    return sessions is not None and sessions.valid(session)


async def require_api_key(
    request: Request,
    services: ServicesDep,
    key: Annotated[str | None, Security(_api_key_header)],
    session: Annotated[str | None, Security(_session_cookie)],
) -> None:
    """X-API-Key wins when sent; otherwise a valid session cookie, plus the CSRF header when the
    request changes something (a cookie goes along with requests other sites make, a header not)."""
    if key is not None:
        if not hmac.compare_digest(key.encode(), services.settings.api_key.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key")
        return
    if session is not None:
        sessions = get_sessions(request)
        if sessions is None or not sessions.valid(session):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "your session has ended; sign in again")
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a request signed in by cookie that changes something must send the header {CSRF_HEADER}: 1",
            )
        return
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header")
