"""Job handlers, one module per job kind; the worker advertises the kinds registered here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from facegrid_protocol import Job


class JobInputError(Exception):
    """The job's input is at fault (not the worker): reported to the API with a code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)  # both in args, so it pickles across processes
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class JobOutput:
    result: dict[str, Any]
    payload: bytes | None = None


Handler = Callable[[Job, bytes | None], Awaitable[JobOutput]]
