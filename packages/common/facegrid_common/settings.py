"""Setting types both apps' settings models use, so both read the environment the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]
"""`LOG_LEVEL`, any case."""

OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_none)]
"""A path, where an empty value (`LOG_FILE=`) means none."""
