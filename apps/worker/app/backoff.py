"""Delays between retries, for the socket link and for every camera reader."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff(first: float, maximum: float, factor: float, rng: random.Random | None = None) -> Iterator[float]:
    """A random first delay in ``[0, first)``, then ``first``, ``first * factor``... capped at
    ``maximum``, each jittered down by up to 20 %.

    The random start keeps many clients that failed together (an API restart, a switch
    rebooting under several cameras) from all coming back in the same instant, and the
    jitter keeps them from retrying in step afterwards. Start a new iterator after a success.
    """
    rng = rng or random.Random()
    yield rng.uniform(0, first)
    delay = first
    while True:
        yield min(maximum, delay) * rng.uniform(0.8, 1.0)
        delay *= factor
