"""Setting types both apps' settings models use, so both read the environment the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from .images import PIXEL_CEILING


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]
"""`LOG_LEVEL`, any case."""

OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_none)]
"""A path, where an empty value (`LOG_FILE=`) means none."""


def _within_pixel_ceiling(value: int) -> int:
    if value > PIXEL_CEILING:
        raise ValueError(
            f"must be at most {PIXEL_CEILING:,} ({value:,} given): workers refuse to decode larger images"
        )
    return value


MaxImagePixels = Annotated[int, Field(ge=1), AfterValidator(_within_pixel_ceiling)]
"""`MAX_IMAGE_PIXELS`, the same rule in both apps: at most the decoder's ceiling."""
