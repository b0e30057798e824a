"""Which worker watches which camera: a pure function, so the policy is easy to test.

Rules: every enabled camera goes to exactly one connected, non-draining worker with
room (its `max_cameras`); a camera stays where it is while that stays true (no
flapping); a pinned camera goes only to its pinned worker; a camera never goes to a
worker that could not start it; new placements go to the least-loaded worker; and
when the spread between the busiest and idlest worker reaches two cameras, one
unpinned camera moves at a time until it is under two.

A pinned camera whose worker is full takes the slot of an unpinned camera there that another
worker has room for (that one moves). Failing cameras come last when slots are short: a
camera that has been failing for a while (``failing``: it cannot connect and keeps retrying)
keeps its slot only while no other camera is waiting for one that it could take. A waiting
camera that is not failing takes the slot of a failing one (which then waits); a failing
camera never takes a slot from another, so slots change hands once, not back and forth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    worker_id: str
    capacity: int


def plan(
    cameras: dict[int, str | None],
    workers: list[Slot],
    current: dict[int, str],
    refused: Mapping[int, Collection[str]] | None = None,
    failing: Collection[int] = (),
) -> dict[int, str]:
    """``cameras``: enabled camera id -> pinned worker (or None); ``current``: camera -> worker;
    ``refused``: camera -> the workers that could not start it; ``failing``: cameras that have
    been failing for a while (running or not).

    Returns camera -> worker for every camera that can be placed; cameras missing from
    the result have no worker to run on (:func:`why_waiting` says why).
    """
    refused = refused or {}
    capacity = {w.worker_id: w.capacity for w in workers}
    load: dict[str, list[int]] = {w.worker_id: [] for w in workers}
    result: dict[int, str] = {}

    def may_run(camera_id: int, worker: str) -> bool:
        pinned = cameras[camera_id]
        return worker in load and pinned in (None, worker) and worker not in refused.get(camera_id, ())

    def allowed(camera_id: int, worker: str) -> bool:
        return may_run(camera_id, worker) and len(load[worker]) < capacity[worker]

    def place(camera_id: int, worker: str) -> None:
        load[worker].append(camera_id)
        result[camera_id] = worker

    for camera_id in sorted(cameras):
        worker = current.get(camera_id)
        if worker is not None and allowed(camera_id, worker):
            place(camera_id, worker)
    waiting = sorted((c for c in cameras if c not in result), key=lambda c: (c in failing, c))
    for camera_id in waiting:  # working (or untried) cameras first; the list grows as they take slots
        free = [w for w in load if allowed(camera_id, w)]
        if free:
            place(camera_id, min(free, key=lambda w: (len(load[w]) / capacity[w], len(load[w]), w)))
            continue
        if camera_id in failing:
            continue
        pinned = cameras[camera_id]
        if pinned is not None and may_run(camera_id, pinned):  # its worker is full: make room there
            movable = [c for c in load[pinned] if cameras[c] is None and any(allowed(c, w) for w in load)]
            if movable:
                moved = movable[-1]
                load[pinned].remove(moved)
                del result[moved]
                place(camera_id, pinned)
                waiting.append(moved)  # it takes the room another worker has
                continue
        yielding = [c for c in result if c in failing and may_run(camera_id, result[c])]
        if yielding:
            loser = max(yielding)
            worker = result.pop(loser)
            load[worker].remove(loser)
            place(camera_id, worker)
            waiting.append(loser)  # it may still find room elsewhere
    _even_out(cameras, refused, load, capacity, result)
    return result


def _even_out(
    cameras: dict[int, str | None],
    refused: Mapping[int, Collection[str]],
    load: dict[str, list[int]],
    capacity: dict[str, int],
    result: dict[int, str],
) -> None:
    while load:
        busiest = max(load, key=lambda w: (len(load[w]), w))
        idlest = min(
            (w for w in load if len(load[w]) < capacity[w]), key=lambda w: (len(load[w]), w), default=None
        )
        if idlest is None or len(load[busiest]) - len(load[idlest]) < 2:
            return
        movable = [c for c in load[busiest] if cameras[c] is None and idlest not in refused.get(c, ())]
        if not movable:
            return
        camera_id = max(movable)
        load[busiest].remove(camera_id)
        load[idlest].append(camera_id)
        result[camera_id] = idlest


def why_waiting(
    pinned: str | None,
    workers: list[Slot],
    placed: dict[int, str],
    refused: Collection[str] = (),
    draining: Collection[str] = (),
) -> str:
    """Why a camera that :func:`plan` left out runs nowhere, in words for a person: ``placed`` is
    that plan, ``refused`` the workers that could not start this camera, ``draining`` the
    connected workers that take no new cameras (they are not in ``workers``)."""
    load = Counter(placed.values())
    if pinned is not None:
        slot = next((w for w in workers if w.worker_id == pinned), None)
        if slot is None:
            state = "stopping (draining)" if pinned in draining else "not connected"
            return f"it is pinned to worker {pinned}, which is {state}"
        if pinned in refused:
            return f"it is pinned to worker {pinned}, which could not start it"
        return f"it is pinned to worker {pinned}, which is full ({_taken(load[pinned], slot.capacity, 1)})"
    if not workers:
        if draining:
            return f"no worker takes cameras: the {len(draining)} connected are stopping (draining)"
        return "no worker is connected"
    usable = [w for w in workers if w.worker_id not in refused]
    if not usable:
        return "no connected worker could start it"
    slots = sum(w.capacity for w in usable)
    if not slots:
        return "no connected worker runs cameras (MAX_CAMERAS=0)"
    taken = _taken(sum(load[w.worker_id] for w in usable), slots, len(usable))
    return f"the only worker is full ({taken})" if len(usable) == 1 else f"every worker is full ({taken})"


def _taken(cameras: int, slots: int, workers: int) -> str:
    if workers == 1:
        return f"{cameras} of its {slots} camera slots taken, MAX_CAMERAS"
    return f"{cameras} of {slots} camera slots taken on {workers} workers, MAX_CAMERAS"
