"""The face gallery: every enrolled descriptor in one in-memory matrix, for matching.

dlib's descriptors are compared by Euclidean distance (same person below ~0.6).
Distances to the whole gallery come from one matrix-vector product,
``|g - q|^2 = |g|^2 - 2 g.q + |q|^2``, with the squared norms kept beside the rows.
Rows live in a growable buffer; removing a face moves the last row into its slot,
so enrolling and deleting cost O(1) whatever the gallery's size.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

DIM = 128
SIMILARITY_CENTER = 0.6
SIMILARITY_SLOPE = 12.0


def similarity(distance: float) -> float:
    """A score in [0, 1] that falls as distance grows: 0.5 at dlib's 0.6, ~0.97 at 0.3.

    Fixed (not tied to a request's threshold) so scores compare across requests.
    """
    return 1.0 / (1.0 + math.exp(SIMILARITY_SLOPE * (distance - SIMILARITY_CENTER)))


@dataclass(frozen=True)
class Candidate:
    person_id: int
    face_id: int
    distance: float

    @property
    def similarity(self) -> float:
        return similarity(self.distance)


class Gallery:
    """Thread-safe; the API mutates it right after each database commit."""

    def __init__(self, capacity: int = 1024) -> None:
        self._lock = threading.Lock()
        self._vectors = np.zeros((capacity, DIM), np.float32)
        self._sq_norms = np.zeros(capacity, np.float32)
        self._face_ids = np.zeros(capacity, np.int64)
        self._person_ids = np.zeros(capacity, np.int64)
        self._row_of: dict[int, int] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, face_id: object) -> bool:
        return face_id in self._row_of

    def add(self, face_id: int, person_id: int, vector: np.ndarray) -> None:
        self.add_many([(face_id, person_id, vector)])

    def add_many(self, rows: Iterable[tuple[int, int, np.ndarray]]) -> None:
        with self._lock:
            for face_id, person_id, vector in rows:
                if face_id in self._row_of:
                    continue
                if self._size == len(self._vectors):
                    self._grow()
                row = self._size
                vec = np.asarray(vector, np.float32).reshape(DIM)
                self._vectors[row] = vec
                self._sq_norms[row] = float(vec @ vec)
                self._face_ids[row] = face_id
                self._person_ids[row] = person_id
                self._row_of[face_id] = row
                self._size += 1

    def remove_faces(self, face_ids: Iterable[int]) -> None:
        with self._lock:
            for face_id in face_ids:
                row = self._row_of.pop(face_id, None)
                if row is None:
                    continue
                last = self._size - 1
                if row != last:
                    for array in (self._vectors, self._sq_norms, self._face_ids, self._person_ids):
                        array[row] = array[last]
                    self._row_of[int(self._face_ids[row])] = row
                self._size = last

    def remove_person(self, person_id: int) -> None:
        with self._lock:
            doomed = self._face_ids[: self._size][self._person_ids[: self._size] == person_id]
        self.remove_faces(int(f) for f in doomed)

    def search(self, query: np.ndarray, top_k: int = 5) -> list[Candidate]:
        """The ``top_k`` nearest people, each with their nearest face, nearest first."""
        q = np.asarray(query, np.float32).reshape(DIM)
        with self._lock:
            n = self._size
            if n == 0 or top_k <= 0:
                return []
            sq = self._sq_norms[:n] - 2.0 * (self._vectors[:n] @ q) + float(q @ q)
            persons = self._person_ids[:n].copy()
            faces = self._face_ids[:n].copy()
        # Look at the nearest faces first; widen until top_k distinct people are found.
        pool = min(n, top_k * 4)
        while True:
            nearest = np.argpartition(sq, pool - 1)[:pool] if pool < n else np.arange(n)
            nearest = nearest[np.argsort(sq[nearest], kind="stable")]
            best: dict[int, Candidate] = {}
            for row in nearest:
                pid = int(persons[row])
                if pid not in best:
                    best[pid] = Candidate(pid, int(faces[row]), math.sqrt(max(float(sq[row]), 0.0)))
                    if len(best) == top_k:
                        break
            if len(best) == top_k or pool == n:
                return list(best.values())
            pool = min(n, pool * 4)

    def _grow(self) -> None:
        capacity = len(self._vectors) * 2
        self._vectors = np.resize(self._vectors, (capacity, DIM))
        self._sq_norms = np.resize(self._sq_norms, capacity)
        self._face_ids = np.resize(self._face_ids, capacity)
        self._person_ids = np.resize(self._person_ids, capacity)
