"""The hub: which workers are connected, who gets the next job, who has gone quiet."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .session import WorkerSession

log = logging.getLogger(__name__)


class WorkerHub:
    """Owns the set of live sessions and the reaper loop that expires silent ones."""

    def __init__(self, *, heartbeat_interval: float, heartbeat_timeout: float) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self._sessions: dict[str, WorkerSession] = {}
        self._drained: set[str] = set()
        self._claimed: set[str] = set()
        self._ending: dict[str, WorkerSession] = {}
        """Per id, the last connection to go whose end is not yet in the store."""
        self._reaper: asyncio.Task[None] | None = None

    def sessions(self) -> list[WorkerSession]:
        return list(self._sessions.values())

    def get(self, worker_id: str) -> WorkerSession | None:
        return self._sessions.get(worker_id)

    def admit(self, worker_id: str) -> str | None:
        """Claim ``worker_id`` for a connection being set up, or say why not.

        Policy for a second connection with an id already in use: while the
        existing connection is alive (heard from within two heartbeat intervals,
        or still registering) the newcomer is refused, so two processes
        misconfigured with one id never evict each other in a loop. A quiet one is
        presumed dead (half-open after a network drop or a crash) and is replaced.
        """
        if worker_id in self._claimed:
            return f"worker id {worker_id!r} is already registering"
        existing = self._sessions.get(worker_id)
        if existing is not None:
            if existing.quiet_for() < 2 * self.heartbeat_interval:
                where = f"{existing.info.hostname} pid {existing.info.pid}"
                return f"worker id {worker_id!r} is already connected from {where}"
            log.warning("worker %s reconnected; replacing its silent connection", worker_id)
            existing.expire("replaced by a new connection")
            del self._sessions[worker_id]
            self._ending[worker_id] = existing
        self._claimed.add(worker_id)
        return None

    def unclaim(self, worker_id: str) -> None:
        """Registration failed: the id is free again."""
        self._claimed.discard(worker_id)

    def attach(self, session: WorkerSession) -> None:
        self._claimed.discard(session.id)
        session.draining = session.id in self._drained
        self._sessions[session.id] = session

    def detach(self, session: WorkerSession) -> bool:
        """Forget the session; False when a newer connection already took its place.
        Call :meth:`recorded` once its end is in the store."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            self._ending[session.id] = session
            return True
        return False

    def recorded(self, session: WorkerSession) -> None:
        """The session's end (its job counts) is in the store."""
        session.recorded.set()
        if self._ending.get(session.id) is session:
            del self._ending[session.id]

    async def earlier_recorded(self, worker_id: str, timeout: float) -> None:
        """Wait (up to ``timeout`` s) until the id's previous connection is in the store, so
        that the totals a new connection starts from hold its jobs: none lost, none twice."""
        ending = self._ending.get(worker_id)
        if ending is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ending.recorded.wait(), timeout)

    def drain(self, worker_id: str, draining: bool) -> None:
        """Stop (or resume) sending a worker jobs; the choice outlives its reconnects."""
        (self._drained.add if draining else self._drained.discard)(worker_id)
        session = self._sessions.get(worker_id)
        if session is not None:
            session.draining = draining

    def can_serve(self, kind: str) -> bool:
        caps = (s for s in self._sessions.values() if not s.draining)
        return any(kind in s.info.capabilities.job_types for s in caps)

    def pick(self, kind: str) -> WorkerSession | None:
        """The least-loaded worker with a free slot for this kind, or None."""
        ready = [s for s in self._sessions.values() if s.can_take(kind)]
        return min(ready, key=lambda s: (s.load, len(s.in_flight), s.last_assigned), default=None)

    # --- reaper ----------------------------------------------------------

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="worker-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    async def _reap_forever(self) -> None:
        """Expire each session the moment its silence reaches the timeout, not on a tick after it.

        It sleeps until the earliest deadline: a message only moves a deadline later, and a
        session that registers meanwhile is due a whole timeout after it, so none is missed.
        """
        while True:
            wait = self.heartbeat_timeout
            for session in self.sessions():
                if session.expired_reason is not None:
                    continue
                quiet = session.quiet_for()
                if quiet < self.heartbeat_timeout:
                    wait = min(wait, self.heartbeat_timeout - quiet)
                    continue
                log.warning(
                    "worker %s silent for %.2f s (timeout %g s): marking it offline",
                    session.id,
                    quiet,
                    self.heartbeat_timeout,
                )
                session.expire(f"no heartbeat for {quiet:.1f} s")
            await asyncio.sleep(wait)
