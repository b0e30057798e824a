"""Who an appearance is, decided from all of its samples at once.

Each sample of a face votes for the nearest enrolled person when that person is within
the threshold, and for nobody otherwise. A person is the appearance's identity only
with at least `MIN_SHARE` of all the votes: one lucky close sample among many that
match no one is not enough (a stranger who resembles someone in one frame stays
unknown), and a few samples just over the threshold in a long appearance of a known
person do not make it unknown. Between people with enough votes, more votes win,
then the smaller median distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from ..gallery import Candidate

MIN_SHARE = 0.5
"""The share of an appearance's samples a person needs to be its identity."""


@dataclass(frozen=True)
class Vote:
    person_id: int | None
    """The nearest enrolled person if within the threshold, else None (nobody)."""
    distance: float | None
    """To the nearest enrolled face, matched or not; None while the gallery is empty, and once
    the person voted for is deleted."""


def vote(nearest: Candidate | None, threshold: float) -> Vote:
    """One sample's vote, from the gallery's nearest candidate."""
    if nearest is None:
        return Vote(None, None)
    matched = nearest.person_id if nearest.distance <= threshold else None
    return Vote(matched, nearest.distance)


def decide(votes: Sequence[Vote]) -> tuple[int | None, float | None]:
    """The identity (None: unknown) and its distance: the winner's closest sample, or for an
    unknown face the closest any sample came to anyone."""
    tally: dict[int, list[float]] = {}
    for v in votes:
        if v.person_id is not None and v.distance is not None:
            tally.setdefault(v.person_id, []).append(v.distance)
    enough = [p for p, d in tally.items() if len(d) >= MIN_SHARE * len(votes)]
    if enough:
        person = max(enough, key=lambda p: (len(tally[p]), -median(tally[p])))
        return person, min(tally[person])
    distances = [v.distance for v in votes if v.distance is not None]
    return None, min(distances) if distances else None
