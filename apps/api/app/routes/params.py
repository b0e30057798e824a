"""Parameter types shared by routes: ids and offsets the database can actually hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ROW_ID = 2**63 - 1  # SQLite and PostgreSQL BIGINT: larger numbers would overflow, not 404

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
