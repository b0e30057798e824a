"""SessionStore: ids are random and long, expire on time, end on sign-out, and memory is bounded."""

from __future__ import annotations

import pytest
from app.dashboard import sessions as sessions_module
from app.dashboard.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_valid_until_it_expires():
    clock = Clock()
    store = SessionStore(ttl=60, clock=clock)
    session = store.create()
    assert len(session) >= 43  # 256 random bits, url-safe base64
    assert store.valid(session)
    clock.now += 59.9
    assert store.valid(session)
    clock.now += 0.2
    assert not store.valid(session)
    assert len(store) == 0  # an expired session is forgotten when seen


def test_ending_a_session_and_unknown_ids():
    store = SessionStore(ttl=60, clock=Clock())
    first, second = store.create(), store.create()
    assert first != second
    store.end(first)
    assert not store.valid(first) and store.valid(second)
    store.end(first)  # twice is harmless
    store.end(None)
    for bad in (None, "", "not-a-session", second + "x"):
        assert not store.valid(bad)


def test_expired_sessions_are_purged_when_one_is_created():
    clock = Clock()
    store = SessionStore(ttl=10, clock=clock)
    for _ in range(5):
        store.create()
    clock.now += 11
    store.create()
    assert len(store) == 1


def test_the_table_is_bounded_dropping_the_session_closest_to_expiry(monkeypatch):
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 3)
    clock = Clock()
    store = SessionStore(ttl=10, clock=clock)
    older = []
    for _ in range(3):
        older.append(store.create())
        clock.now += 1
    newest = store.create()
    assert len(store) == 3
    assert [store.valid(s) for s in [*older, newest]] == [False, True, True, True]


def test_a_lifetime_must_be_positive():
    with pytest.raises(ValueError):
        SessionStore(ttl=0)
