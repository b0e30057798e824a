"""Which worker watches which camera: a pure function, so the policy is easy to test.

Rules: every enabled camera goes to exactly one connected, non-draining worker with
room (its `max_cameras`); a camera stays where it is while that stays true (no
flapping); a pinned camera goes only to its pinned worker; a camera never goes to a
worker that could not start it; new placements go to the least-loaded worker; and
when the spread between the busiest and idlest worker reaches two cameras, one
unpinned camera moves at a time until it is under two.
"""

from __future__ import annotations

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
) -> dict[int, str]:
    """``cameras``: enabled camera id -> pinned worker (or None); ``current``: camera -> worker;
    ``refused``: camera -> the workers that could not start it.

    Returns camera -> worker for every camera that can be placed; cameras missing from
    the result have no worker to run on.
    """
    refused = refused or {}
    capacity = {w.worker_id: w.capacity for w in workers}
    load: dict[str, list[int]] = {w.worker_id: [] for w in workers}
    result: dict[int, str] = {}

    def allowed(camera_id: int, worker: str) -> bool:
        pinned = cameras[camera_id]
        return (
            worker in load
            and (pinned is None or pinned == worker)
            and worker not in refused.get(camera_id, ())
            and len(load[worker]) < capacity[worker]
        )

    for camera_id in sorted(cameras):
        worker = current.get(camera_id)
        if worker is not None and allowed(camera_id, worker):
            load[worker].append(camera_id)
            result[camera_id] = worker
    for camera_id in sorted(cameras):
        if camera_id in result:
            continue
        free = [w for w in load if allowed(camera_id, w)]
        if free:
            worker = min(free, key=lambda w: (len(load[w]) / capacity[w], len(load[w]), w))
            load[worker].append(camera_id)
            result[camera_id] = worker
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
