"""The one backoff generator: the socket link and every camera reader retry with it."""

from __future__ import annotations

import random

from app.backoff import backoff


def test_backoff_starts_at_random_grows_is_capped_and_jittered():
    delays = backoff(1.0, 8.0, 2.0, random.Random(1))
    values = [next(delays) for _ in range(9)]
    assert 0 <= values[0] < 1.0  # clients that failed together do not come back together
    caps = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(0.8 * cap <= v <= cap for v, cap in zip(values[1:], caps, strict=True)), values
    assert len({round(v, 6) for v in values}) == len(values)  # jittered, not in lockstep


def test_each_iterator_starts_again_from_short_delays():
    first, second = backoff(1.0, 30.0, 1.6), backoff(1.0, 30.0, 1.6)
    for _ in range(10):
        next(first)
    assert next(second) < 1.0 and next(first) > 8
