"""Setting types both apps' settings models use, and how both load them, so both read the
environment the same way and refuse bad values the same way."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError

from .images import PIXEL_CEILING

SettingsT = TypeVar("SettingsT", bound=BaseModel)


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


def load_settings(model: Callable[[], SettingsT], program: str) -> SettingsT:
    """Build a settings model, or exit 2 with one clear line per bad variable (no traceback):
    bad configuration is the operator's to fix, and they should see exactly what to fix."""
    try:
        return model()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            print(f"{program}: bad configuration: {field + ': ' if field else ''}{message}", file=sys.stderr)
        raise SystemExit(2) from None
