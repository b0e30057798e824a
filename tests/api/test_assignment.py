"""plan(): which worker runs which camera. A pure function, so every rule is checked directly."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from app.cameras.assignment import Slot, plan, why_waiting


def _load(result: dict[int, str]) -> Counter[str]:
    return Counter(result.values())


def test_cameras_spread_over_workers_within_their_capacity():
    cameras = dict.fromkeys(range(1, 8))
    result = plan(cameras, [Slot("a", 4), Slot("b", 2), Slot("c", 0)], {})
    assert sorted(result) == [1, 2, 3, 4, 5, 6]  # 6 slots for 7 cameras: one waits
    assert _load(result) == {"a": 4, "b": 2}


def test_a_worker_joining_takes_over_evenly_and_nothing_moves_twice():
    cameras = dict.fromkeys(range(1, 7))
    before = plan(cameras, [Slot("a", 8)], {})
    assert _load(before) == {"a": 6}
    after = plan(cameras, [Slot("a", 8), Slot("b", 8)], before)
    assert _load(after) == {"a": 3, "b": 3}
    moved = [c for c in cameras if before[c] != after[c]]
    assert len(moved) == 3 and all(after[c] == "b" for c in moved)  # only to the newcomer
    assert plan(cameras, [Slot("a", 8), Slot("b", 8)], after) == after  # and then it stays


def test_a_pinned_camera_takes_its_full_workers_slot_from_one_that_can_move():
    """After a restart b took every unpinned camera before a joined; camera 9 is pinned to b."""
    cameras = {3: None, 4: None, 5: None, 6: None, 9: "b"}
    current = {3: "b", 4: "b", 5: "b", 6: "b"}
    result = plan(cameras, [Slot("a", 4), Slot("b", 4)], current)
    assert result[9] == "b" and len(result) == 5
    assert [c for c in (3, 4, 5, 6) if result[c] != "b"] != []  # one moved to a
    assert plan(cameras, [Slot("a", 4), Slot("b", 4)], result) == result  # and then it stays


def test_no_flapping_when_the_spread_is_one():
    cameras = dict.fromkeys(range(1, 6))
    current = {1: "a", 2: "a", 3: "a", 4: "b", 5: "b"}
    workers = [Slot("a", 4), Slot("b", 4), Slot("c", 4)]
    first = plan(cameras, workers, current)
    assert _load(first) == {"a": 2, "b": 2, "c": 1}
    for _ in range(5):
        assert plan(cameras, workers, first) == first


def test_a_lost_or_draining_workers_cameras_move_and_the_others_stay():
    cameras = dict.fromkeys(range(1, 7))
    current = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    result = plan(cameras, [Slot("a", 4), Slot("c", 4)], current)  # b is gone (or draining)
    assert {c: result[c] for c in (1, 2, 5, 6)} == {1: "a", 2: "a", 5: "c", 6: "c"}
    assert {result[3], result[4]} <= {"a", "c"} and _load(result) == {"a": 3, "c": 3}


def test_pinned_cameras_go_only_to_their_worker_and_are_never_moved_to_even_out():
    cameras = {1: "a", 2: "a", 3: "a", 4: None, 5: "gone"}
    result = plan(cameras, [Slot("a", 3), Slot("b", 3)], {})
    assert result == {1: "a", 2: "a", 3: "a", 4: "b"}  # 5's worker is not here: it waits
    assert plan(cameras, [Slot("a", 3), Slot("b", 3)], {**result, 4: "a"}) == result  # a is full


def test_a_camera_goes_to_no_worker_that_could_not_start_it():
    cameras = dict.fromkeys(range(1, 5))
    workers = [Slot("a", 4), Slot("b", 4)]
    refused = {1: {"a"}, 2: {"a", "b"}}
    result = plan(cameras, workers, {1: "a", 2: "b", 3: "a", 4: "a"}, refused)
    assert result[1] == "b" and 2 not in result
    assert plan(cameras, workers, result, refused) == result
    # Evening out never moves a camera to a worker that refused it.
    crowded = {c: "b" for c in range(1, 5)}
    evened = plan(dict.fromkeys(range(1, 5)), workers, crowded, {c: {"a"} for c in range(1, 5)})
    assert evened == crowded


def test_full_workers_leave_cameras_waiting_until_there_is_room():
    cameras = dict.fromkeys(range(1, 5))
    result = plan(cameras, [Slot("a", 1), Slot("b", 1)], {})
    assert len(result) == 2
    bigger = plan(cameras, [Slot("a", 1), Slot("b", 1), Slot("c", 2)], result)
    assert {c: bigger[c] for c in result} == result and len(bigger) == 4


def test_failing_cameras_give_their_slots_to_waiting_ones_once():
    cameras = dict.fromkeys(range(1, 6))
    broken = {1: "a", 2: "a", 3: "a", 4: "a"}  # MAX_CAMERAS=4, four bad addresses retrying
    assert plan(cameras, [Slot("a", 4)], broken) == broken  # not failing for long yet: they stay
    result = plan(cameras, [Slot("a", 4)], broken, failing={1, 2, 3, 4})
    assert result == {1: "a", 2: "a", 3: "a", 5: "a"}  # camera 5 works: it takes 4's slot
    # Camera 4 waits, still counted as failing: it takes no slot back, whatever fails next.
    assert plan(cameras, [Slot("a", 4)], result, failing={1, 2, 3, 4}) == result
    assert plan(cameras, [Slot("a", 4)], result, failing={1, 2, 3, 4, 5}) == result
    # With room somewhere, nothing gives way: the waiting camera goes there.
    assert plan(cameras, [Slot("a", 4), Slot("b", 1)], broken, failing={1, 2, 3, 4}) == {**broken, 5: "b"}


def test_a_failing_camera_gives_way_only_to_a_camera_that_may_use_its_worker():
    current = {1: "a"}
    workers = [Slot("a", 1), Slot("b", 0)]
    assert plan({1: None, 2: "b"}, workers, current, failing={1}) == current  # 2 may only run on b
    assert plan({1: None, 3: None}, workers, current, {3: {"a"}}, failing={1}) == current  # a refused 3
    assert plan({1: None, 3: None}, workers, current, failing={1}) == {3: "a"}


def test_why_a_camera_waits_is_said_in_words():
    full = {1: "a", 2: "a", 3: "a", 4: "a"}
    assert why_waiting(None, [], {}) == "no worker is connected"
    assert why_waiting(None, [], {}, draining={"a"}) == (
        "no worker takes cameras: the 1 connected are stopping (draining)"
    )
    assert why_waiting(None, [Slot("a", 4)], full) == (
        "the only worker is full (4 of its 4 camera slots taken, MAX_CAMERAS)"
    )
    assert why_waiting(None, [Slot("a", 4), Slot("b", 2)], {**full, 5: "b", 6: "b"}) == (
        "every worker is full (6 of 6 camera slots taken on 2 workers, MAX_CAMERAS)"
    )
    assert why_waiting("x", [Slot("a", 4)], {}) == "it is pinned to worker x, which is not connected"
    assert why_waiting("x", [], {}, draining={"x"}) == (
        "it is pinned to worker x, which is stopping (draining)"
    )
    assert why_waiting("a", [Slot("a", 4), Slot("b", 4)], full) == (
        "it is pinned to worker a, which is full (4 of its 4 camera slots taken, MAX_CAMERAS)"
    )
    assert why_waiting("a", [Slot("a", 4)], {}, refused={"a"}) == (
        "it is pinned to worker a, which could not start it"
    )
    assert why_waiting(None, [Slot("a", 4)], {}, refused={"a"}) == "no connected worker could start it"
    assert why_waiting(None, [Slot("a", 0)], {}) == "no connected worker runs cameras (MAX_CAMERAS=0)"


@pytest.mark.parametrize("seed", range(200))
def test_random_situations_keep_every_rule_and_are_stable(seed: int):
    rng = random.Random(seed)
    names = [f"w{i}" for i in range(rng.randint(0, 5))]
    workers = [Slot(n, rng.randint(0, 4)) for n in names]
    pinnable = [*names, "absent"]
    pins = [rng.choice(pinnable) if rng.random() < 0.2 else None for _ in range(rng.randint(0, 14))]
    cameras = dict(enumerate(pins, start=1))
    current = {c: rng.choice(pinnable) for c in cameras if rng.random() < 0.6}
    refused = {c: set(rng.sample(names, rng.randint(0, len(names)))) for c in cameras if rng.random() < 0.2}
    failing = {c for c in cameras if rng.random() < 0.3}
    result = plan(cameras, workers, current, refused, failing)
    capacity = {w.worker_id: w.capacity for w in workers}
    for camera, worker in result.items():
        assert worker in capacity and worker not in refused.get(camera, set())
        assert cameras[camera] in (None, worker)
    assert all(_load(result)[w] <= capacity[w] for w in capacity)
    for camera in set(cameras) - set(result):  # a camera waits only when every worker it may use is full
        pinned, refusing = cameras[camera], refused.get(camera, set())
        usable = [w for w in names if pinned in (None, w) and w not in refusing]
        assert all(_load(result)[w] == capacity[w] for w in usable), (camera, usable, result)
        if camera not in failing:  # and, for one that works, only when no failing camera could make room
            assert not [c for c, w in result.items() if c in failing and w in usable], (camera, result)
    assert plan(cameras, workers, result, refused, failing) == result  # applying the plan changes nothing

