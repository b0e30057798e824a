"""API key check for every route under /api."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from .services import Services

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API_KEY from .env")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_api_key(
    services: ServicesDep, key: Annotated[str | None, Security(_api_key_header)]
) -> None:
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header")
    if not hmac.compare_digest(key.encode(), services.settings.api_key.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key")
