"""The API's face gallery (``apps/api/app/gallery.py``) at 1k to 1M faces, beside a naive search.

For each size, synthetic dlib-like descriptors (128-d, norm 1; people ~0.9 apart, a
person's own faces ~0.3 apart, 5 faces per person) are loaded with ``add_many``,
then ``Gallery.search(query, top_k=5)`` is timed on queries that are new faces of
enrolled people (half) and of strangers (half). Beside it, on the same data and
queries: the naive search, ``np.linalg.norm(G - q, axis=1)`` + ``argsort``, then the
first 5 distinct people. Both must name the same people.

Also interleaved query by query: ``search`` with OpenBLAS limited to one thread
(numpy's bundled OpenBLAS, switched through ctypes), a proposed variant of
``search`` (a local copy: see :func:`proposed_search`), and the time of each step of
``search`` on the gallery's own arrays (the matrix-vector product, the id copies
taken under the lock, argpartition, the final sort and loop), to show where a slow
search spends its time. ``--busy N`` keeps N extra processes spinning during the
searches, as face workers do on the API's machine.

    python bench/gallery_search.py                       # 1k, 10k, 100k, 1M
    python bench/gallery_search.py --sizes 1000,100000 --queries 500 --busy 1
    python bench/gallery_search.py --quick               # 1k, 10k, 100k; fewer queries
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib.util
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import psutil
from stack import REPO, percentile

DIM = 128
FACES_PER_PERSON = 5
TOP_K = 5
GALLERY_PY = REPO / "apps" / "api" / "app" / "gallery.py"

SEARCH, SEARCH_1, PROPOSED_1, NAIVE = "search", "search, 1 BLAS thread", "proposed, 1 BLAS thread", "naive"
VARIANTS = (SEARCH, SEARCH_1, PROPOSED_1, NAIVE)


def load_gallery_module() -> ModuleType:
    """Import gallery.py by path, without the API's package (it needs only numpy)."""
    spec = importlib.util.spec_from_file_location("facegrid_gallery", GALLERY_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


class Blas:
    """numpy's bundled OpenBLAS thread count, set through ctypes (no threadpoolctl in the venv)."""

    def __init__(self) -> None:
        self.lib: Any = None
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
        for path in paths:
            lib = ctypes.CDLL(path)
            for suffix in ("64_", ""):
                get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
                put = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    self.get, self.put = get, put
                    self.lib = lib
                    self.default = int(get())
                    return

    @contextlib.contextmanager
    def threads(self, count: int | None) -> Iterator[None]:
        if self.lib is None or count is None:
            yield
            return
        self.put(count)
        try:
            yield
        finally:
            self.put(self.default)


# --- synthetic descriptors ------------------------------------------------------


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class Faces:
    """dlib-like descriptors: a shared direction plus a per-person one, plus per-face noise."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.common = unit(self.rng.standard_normal((1, DIM)))[0].astype(np.float32)

    def people(self, count: int) -> np.ndarray:
        own = unit(self.rng.standard_normal((count, DIM), dtype=np.float32))
        return unit(0.75 * self.common + 0.66 * own).astype(np.float32)

    def faces_of(self, centers: np.ndarray) -> np.ndarray:
        # Per-dimension noise 0.015: two faces of one person end up ~0.25 apart.
        noise = self.rng.standard_normal(centers.shape, dtype=np.float32) * np.float32(0.015)
        return unit(centers + noise).astype(np.float32)


# --- the naive baseline ---------------------------------------------------------


def naive_search(vectors: np.ndarray, persons: np.ndarray, q: np.ndarray, top_k: int) -> list[int]:
    distances = np.linalg.norm(vectors - q, axis=1)
    seen: list[int] = []
    for row in np.argsort(distances):
        pid = int(persons[row])
        if pid not in seen:
            seen.append(pid)
            if len(seen) == top_k:
                break
    return seen


# --- where search's time goes (the same steps as Gallery.search, timed) ----------


def search_steps(gallery: Any, q: np.ndarray, top_k: int) -> dict[str, float]:
    """Seconds per step of ``Gallery.search`` (gallery.py as of this benchmark), on its own arrays."""
    t0 = time.perf_counter()
    q = np.asarray(q, np.float32).reshape(DIM)
    n = gallery._size
    sq = gallery._sq_norms[:n] - 2.0 * (gallery._vectors[:n] @ q) + float(q @ q)
    t1 = time.perf_counter()
    persons = gallery._person_ids[:n].copy()
    faces = gallery._face_ids[:n].copy()
    t2 = time.perf_counter()
    pool = min(n, top_k * 4)
    nearest = np.argpartition(sq, pool - 1)[:pool] if pool < n else np.arange(n)
    t3 = time.perf_counter()
    nearest = nearest[np.argsort(sq[nearest], kind="stable")]
    best: dict[int, tuple[int, float]] = {}
    for row in nearest:
        pid = int(persons[row])
        if pid not in best:
            best[pid] = (int(faces[row]), math.sqrt(max(float(sq[row]), 0.0)))
            if len(best) == top_k:
                break
    t4 = time.perf_counter()
    return {"distances": t1 - t0, "id copies": t2 - t1, "argpartition": t3 - t2, "sort+pick": t4 - t3}


# --- a proposed search, tried on a local copy ---------------------------------------


def proposed_search(gallery: Any, query: np.ndarray, top_k: int) -> list[Any]:
    """What ``Gallery.search`` could do instead; same people, same distances.

    * no copy of the whole id columns: only the candidate rows' ids are read (under the lock);
    * ``partition`` of the distances + ``flatnonzero`` instead of ``argpartition`` (which
      allocates and permutes an n-long int64 index);
    * the distance expression in place (one n-long temporary, not three), ``|q|^2`` added
      to the kept candidates only.
    """
    q = np.asarray(query, np.float32).reshape(DIM)
    with gallery._lock:
        n = gallery._size
        if n == 0 or top_k <= 0:
            return []
        d = gallery._vectors[:n] @ q
        d *= -2.0
        d += gallery._sq_norms[:n]
        pool = min(n, top_k * 4)
        while True:
            if pool < n:
                kth = np.partition(d, pool - 1)[pool - 1]
                rows = np.flatnonzero(d <= kth)
            else:
                rows = np.arange(n)
            rows = rows[np.argsort(d[rows], kind="stable")]
            persons, faces, near = gallery._person_ids[rows], gallery._face_ids[rows], d[rows]
            best: dict[int, int] = {}
            for i, pid in enumerate(persons.tolist()):
                if pid not in best:
                    best[pid] = i
                    if len(best) == top_k:
                        break
            if len(best) == top_k or pool == n:
                break
            pool = min(n, pool * 4)
    qq = float(q @ q)
    candidate = type(gallery).search.__globals__["Candidate"]
    return [
        candidate(pid, int(faces[i]), math.sqrt(max(float(near[i]) + qq, 0.0))) for pid, i in best.items()
    ]


# --- one size ------------------------------------------------------------------------


def reset_peak_rss() -> None:
    """Restart the kernel's peak-RSS count (VmHWM) from now, so it covers the build alone."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss() -> int:
    """Peak RSS since :func:`reset_peak_rss` (VmHWM), else since the process started."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def spinning(count: int) -> Iterator[None]:
    """``count`` processes burning a core each, as face workers do beside the API."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def ms(seconds: list[float], q: float) -> float:
    return percentile(seconds, q) * 1000


def clock(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def measure(
    module: ModuleType, blas: Blas, n: int, queries: int, naive_queries: int, faces: Faces, busy: int
) -> dict[str, Any]:
    people = max(1, n // FACES_PER_PERSON)
    centers = faces.people(people)
    person_of = np.arange(n) // FACES_PER_PERSON % people
    vectors = faces.faces_of(centers[person_of])
    person_ids = person_of.astype(np.int64) + 1
    known = faces.faces_of(centers[faces.rng.integers(0, people, queries - queries // 2)])
    strangers = faces.faces_of(faces.people(queries // 2))
    qs = np.concatenate([known, strangers])

    gc.collect()
    me = psutil.Process()
    rss_before = me.memory_info().rss
    reset_peak_rss()
    started = time.perf_counter()
    gallery = module.Gallery()
    gallery.add_many((i + 1, int(person_ids[i]), vectors[i]) for i in range(n))
    build = time.perf_counter() - started
    rss_after = me.memory_info().rss
    peak = peak_rss()
    parts = (gallery._vectors, gallery._sq_norms, gallery._face_ids, gallery._person_ids)
    arrays = sum(a.nbytes for a in parts)
    index = (
        sys.getsizeof(gallery._row_of)
        + sum(sys.getsizeof(k) for k in gallery._row_of)
        + sum(sys.getsizeof(v) for v in gallery._row_of.values() if v > 256)
    )

    # Interleaved query by query, so machine noise falls on every variant alike.
    with spinning(busy):
        gallery.search(qs[0], top_k=TOP_K)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        steps: dict[str, list[float]] = {}
        disagree = {"search": 0, "proposed": 0}
        matched = [0, 0]  # enrolled people's faces, strangers' faces within 0.6
        for i, q in enumerate(qs):
            took, found = clock(gallery.search, q, TOP_K)
            times[SEARCH].append(took)
            with blas.threads(1):
                took, _ = clock(gallery.search, q, TOP_K)
                times[SEARCH_1].append(took)
                took, mine = clock(proposed_search, gallery, q, TOP_K)
                times[PROPOSED_1].append(took)
            for name, value in search_steps(gallery, q, TOP_K).items():
                steps.setdefault(name, []).append(value)
            found_ids = [c.person_id for c in found]
            mine_ids = [c.person_id for c in mine]
            if i < naive_queries:
                took, want = clock(naive_search, vectors, person_ids, q, TOP_K)
                times[NAIVE].append(took)
                disagree["search"] += found_ids != want
                disagree["proposed"] += mine_ids != want
            elif mine_ids != found_ids:
                disagree["proposed"] += 1
            matched[i >= len(known)] += bool(found) and found[0].distance <= 0.6
    return {
        "n": n,
        "capacity": len(gallery._vectors),
        "build": build,
        "rss": rss_after - rss_before,
        "peak": max(0, peak - rss_before),
        "arrays": arrays,
        "index": index,
        "times": times,
        "disagree": disagree,
        "queries": len(qs),
        "checked": naive_queries,
        "known": (matched[0], len(known)),
        "strangers": (matched[1], len(strangers)),
        "steps": {name: percentile(values, 50) for name, values in steps.items()},
    }


def print_result(r: dict[str, Any], blas: Blas) -> None:
    n, t = r["n"], r["times"]
    print(f"{n:>9,d} faces ({n // FACES_PER_PERSON:,d} people), {r['queries']} queries")
    for name in VARIANTS:
        if t[name]:
            label = f"{name} ({blas.default} BLAS threads)" if name == SEARCH and blas.lib else name
            print(f"    {label:30s} p50 {ms(t[name], 50):9.3f} ms   p99 {ms(t[name], 99):9.3f} ms")
    p50 = {name: percentile(t[name], 50) for name in VARIANTS if t[name]}
    print(
        f"    ratios of p50: naive/search {p50[NAIVE] / p50[SEARCH]:.1f}x,"
        f" search/(search, 1 BLAS thread) {p50[SEARCH] / p50[SEARCH_1]:.2f}x,"
        f" search/(proposed, 1 BLAS thread) {p50[SEARCH] / p50[PROPOSED_1]:.2f}x"
    )
    steps = r["steps"]
    total = sum(steps.values())
    split = ", ".join(f"{k} {v * 1000:.3f} ms ({v / total:.0%})" for k, v in steps.items())
    print(f"    search's steps, p50: {split}")
    print(
        f"    build (add_many) {r['build']:.2f} s = {r['build'] / n * 1e6:.1f} us/face;"
        f" memory: arrays {r['arrays'] / 2**20:.1f} MiB (capacity {r['capacity']:,d}),"
        f" id->row dict ~{r['index'] / 2**20:.1f} MiB; RSS +{r['rss'] / 2**20:.1f} MiB"
        f" (peak during the build +{r['peak'] / 2**20:.1f} MiB)"
    )
    (hit, known), (false, strangers) = r["known"], r["strangers"]
    wrong = r["disagree"]
    print(
        f"    people differing from naive: search {wrong['search']}/{r['checked']};"
        f" proposed {wrong['proposed']}/{r['queries']} (vs naive, or vs search past {r['checked']});"
        f" matched within 0.6: enrolled {hit}/{known}, strangers {false}/{strangers}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="comma-separated face counts")
    parser.add_argument("--queries", type=int, default=300, help="gallery queries per size")
    parser.add_argument("--naive-queries", type=int, default=0, help="naive queries per size (default: auto)")
    parser.add_argument("--quick", action="store_true", help="1k, 10k and 100k faces, 100 queries")
    parser.add_argument("--busy", type=int, default=0, help="processes spinning during the searches")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    queries = args.queries
    if args.quick:
        sizes, queries = [s for s in sizes if s <= 100_000], 100

    module = load_gallery_module()
    blas = Blas()
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(
        f"{GALLERY_PY.relative_to(REPO)}: Gallery.search(query, top_k={TOP_K}); numpy {np.__version__};"
        f" {os.cpu_count()} CPUs; OpenBLAS threads {blas.default if blas.lib else '?'}"
        f" (OPENBLAS_NUM_THREADS {threads}); {args.busy} spinning process(es) during searches"
    )
    if blas.lib is None:
        print("  (OpenBLAS not found: the 1-thread variants run with the default thread count)")
    faces = Faces()
    started = time.perf_counter()
    for n in sizes:
        # The naive search reads and writes the whole matrix per query: fewer of them at large sizes.
        naive = args.naive_queries or min(queries, max(20, 2_000_000 // n))
        print_result(measure(module, blas, n, queries, naive, faces, args.busy), blas)
    print(f"\ntarget: search p50 <= 10 ms at 100k faces; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
