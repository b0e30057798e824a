"""Dashboard sign-in sessions: random ids kept in this process's memory, each with an expiry.

Why server-side ids rather than a signed token: signing out (or an expiry) ends a session
for certain, with nothing left that still opens the API, and no key is derived from the
API key. The price is that a restart of the API signs everyone out, which suits a single
self-hosted API process.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

COOKIE_NAME = "facegrid_session"
CSRF_HEADER = "X-FaceGrid-CSRF"
"""Requests that change state and are authenticated by the cookie must carry this header. A page
on another site cannot set it without a CORS preflight, which this API never grants."""
MAX_SESSIONS = 10_000
"""A bound on memory: past it the sessions closest to expiry are dropped first."""


class SessionStore:
    """Session id -> expiry time. Only this object reads or changes the table."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ValueError("a session lifetime must be positive")
        self.ttl = ttl
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    def create(self) -> str:
        """A new session id (256 random bits), valid for `ttl` seconds."""
        self._purge()
        if len(self._expiry) >= MAX_SESSIONS:
            oldest = min(self._expiry, key=self._expiry.__getitem__)
            del self._expiry[oldest]
        session_id = secrets.token_urlsafe(32)
        self._expiry[session_id] = self._clock() + self.ttl
        return session_id

    def valid(self, session_id: str | None) -> bool:
        if not session_id:
            return False
        expiry = self._expiry.get(session_id)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._expiry[session_id]
            return False
        return True

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._expiry.pop(session_id, None)

    def _purge(self) -> None:
        now = self._clock()
        for session_id in [s for s, expiry in self._expiry.items() if expiry <= now]:
            del self._expiry[session_id]
