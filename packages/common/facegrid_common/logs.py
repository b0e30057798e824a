"""Logging to stdout and, optionally, a rotating file, with secrets masked."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Last line of defence: no configured secret is ever written out, whoever logs it.

    It masks the finished line, so a secret in the arguments, in an exception's message
    or anywhere in its traceback is caught as well as one in the message itself.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(FORMAT)
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def setup_logging(level: str, log_file: Path | None, secrets: list[str]) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=10_000_000, backupCount=5))
    formatter = RedactingFormatter(secrets)
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=handlers, force=True)
