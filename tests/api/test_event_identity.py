"""The identity rule of an appearance, on synthetic descriptors matched in a real gallery."""

from __future__ import annotations

import numpy as np
import pytest
from app.events.identity import MIN_SHARE, Vote, decide, vote
from app.gallery import DIM, Gallery

THRESHOLD = 0.6
RNG = np.random.default_rng(3)


def _unit() -> np.ndarray:
    v = RNG.normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _near(face: np.ndarray, distance: float) -> np.ndarray:
    """A descriptor exactly `distance` from `face`."""
    return (face + distance * _unit()).astype(np.float32)


@pytest.fixture(scope="module")
def gallery() -> tuple[Gallery, np.ndarray, np.ndarray]:
    """Ada (person 1) and Bob (person 2), one enrolled face each, far apart."""
    ada, bob = _unit(), _unit() * 3
    g = Gallery()
    g.add(10, 1, ada)
    g.add(20, 2, bob)
    return g, ada, bob


def _votes(g: Gallery, faces: list[np.ndarray]) -> list[Vote]:
    return [vote(next(iter(g.search(f, 1)), None), THRESHOLD) for f in faces]


def test_a_sample_votes_for_the_nearest_person_only_within_the_threshold(gallery):
    g, ada, _ = gallery
    assert vote(g.search(_near(ada, 0.4), 1)[0], THRESHOLD) == Vote(1, pytest.approx(0.4, abs=1e-4))
    far = vote(g.search(_near(ada, 0.7), 1)[0], THRESHOLD)
    assert far.person_id is None and far.distance == pytest.approx(0.7, abs=1e-4)
    assert vote(None, THRESHOLD) == Vote(None, None)  # an empty gallery


def test_one_close_sample_among_strangers_is_not_enough(gallery):
    g, ada, _ = gallery
    stranger = _unit() * 2
    faces = [_near(ada, 0.55)] + [_near(stranger, 0.1) for _ in range(4)]
    person, distance = decide(_votes(g, faces))
    assert person is None
    assert distance == pytest.approx(0.55, abs=1e-4)  # an unknown face still says how close it came


def test_a_known_person_survives_samples_just_over_the_threshold(gallery):
    g, ada, _ = gallery
    faces = [_near(ada, d) for d in (0.5, 0.45, 0.62, 0.64, 0.52, 0.63)]
    person, distance = decide(_votes(g, faces))
    assert person == 1
    assert distance == pytest.approx(0.45, abs=1e-4)


def test_exactly_the_minimum_share_wins_and_one_less_does_not(gallery):
    g, ada, _ = gallery
    matched, unmatched = _near(ada, 0.5), _near(ada, 0.8)
    n = 10
    enough = round(MIN_SHARE * n)
    assert decide(_votes(g, [matched] * enough + [unmatched] * (n - enough)))[0] == 1
    assert decide(_votes(g, [matched] * (enough - 1) + [unmatched] * (n - enough + 1)))[0] is None


def test_between_two_people_more_votes_win_then_the_closer_median(gallery):
    g, ada, bob = gallery
    assert decide(_votes(g, [_near(ada, 0.5)] * 3 + [_near(bob, 0.2)] * 2))[0] == 1
    tie = [_near(ada, 0.5), _near(ada, 0.55), _near(bob, 0.3), _near(bob, 0.58)]
    assert decide(_votes(g, tie)) == (2, pytest.approx(0.3, abs=1e-4))


def test_no_samples_or_no_gallery_is_unknown():
    assert decide([]) == (None, None)
    assert decide([Vote(None, None)] * 3) == (None, None)
