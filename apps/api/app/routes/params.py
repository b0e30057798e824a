"""Parameter types shared by routes: ids, offsets and times the database can actually hold."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

MAX_ROW_ID = 2**63 - 1  # SQLite and PostgreSQL BIGINT: larger numbers would overflow, not 404

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]


def _in_utc(value: datetime) -> datetime:
    """Without a zone, UTC; with one, converted to UTC, which must stay within years 1-9999."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise ValueError("out of range once converted to UTC (years 1 to 9999)") from None


UtcTime = Annotated[datetime, AfterValidator(_in_utc)]
