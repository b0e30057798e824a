"""Secret masking: a configured secret never reaches stdout or the log file, wherever it hides."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

# Run as its own process, as the apps do: setup_logging replaces the root logger's handlers.
PROGRAM = """
import logging, sys
from pathlib import Path
from facegrid_common.logs import setup_logging

secret = sys.argv[1]
setup_logging("INFO", Path(sys.argv[2]), [secret, ""])
log = logging.getLogger("test")
log.info("in the message %s", secret)
try:
    raise RuntimeError(f"connect failed: token={secret}")
except RuntimeError:
    log.exception("in the traceback")
"""


def test_secrets_are_masked_in_messages_and_tracebacks(tmp_path: Path):
    secret = secrets.token_urlsafe(24)
    log_file = tmp_path / "app.log"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, secret, str(log_file)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for text in (done.stdout, log_file.read_text()):
        assert "in the message ***" in text
        assert "RuntimeError: connect failed: token=***" in text  # the traceback is there, masked
        assert "Traceback (most recent call last)" in text
        assert secret not in text
