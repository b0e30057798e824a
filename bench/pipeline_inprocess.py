"""The face pipeline called in-process: the floor a worker reached over its socket is compared to.

Runs :class:`FacePipeline` (decode + detect + landmarks + embedding) on the sample
photos (``scripts/fetch_sample_faces.py``), several rounds, and prints per-image p50/p99,
images/s and how the time splits between detection and embedding.

    python bench/pipeline_inprocess.py                      # defaults: HOG, upsample 1, 960 px
    python bench/pipeline_inprocess.py --upsample 0 --max-side 1280 --rounds 5 --threads 2

Another benchmark imports :func:`run_inprocess` and :func:`sample_images` to measure
the same images the same way beside its own path.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stack import REPO, percentile

if TYPE_CHECKING:
    from app.vision.pipeline import FacePipeline


def make_pipeline(**settings: Any) -> FacePipeline:
    """A worker :class:`FacePipeline` (puts ``apps/worker`` on ``sys.path``, whose package is ``app``)."""
    worker = str(REPO / "apps" / "worker")
    if worker not in sys.path:
        sys.path.insert(0, worker)
    from app.vision.pipeline import FacePipeline

    return FacePipeline(**settings)


def sample_images() -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of every sample photo, fetched on first use."""
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from fetch_sample_faces import sample_faces_dir

    return [(p.name, p.read_bytes()) for p in sorted(Path(sample_faces_dir()).iterdir()) if p.is_file()]


@dataclass
class Run:
    """Seconds per image (one entry per call) and faces found, for one way of calling the pipeline."""

    seconds: list[float]
    faces: int
    wall: float

    def summary(self) -> str:
        ms = [s * 1000 for s in self.seconds]
        return (
            f"p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  "
            f"{len(ms) / self.wall:5.2f} images/s  ({len(ms)} images, {self.faces} faces)"
        )


def run_inprocess(
    pipeline: FacePipeline,
    images: list[bytes],
    *,
    rounds: int = 3,
    threads: int = 1,
    embed: bool = True,
) -> Run:
    """Analyse every image ``rounds`` times over ``threads`` threads; time each call."""

    def one(data: bytes) -> tuple[float, int]:
        started = time.perf_counter()
        faces = pipeline.analyze(data, embed=embed).faces
        return time.perf_counter() - started, len(faces)

    work = [data for _ in range(rounds) for data in images]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(one, work))
    wall = time.perf_counter() - started
    return Run([s for s, _ in results], sum(n for _, n in results), wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default="hog")
    parser.add_argument("--upsample", type=int, default=1)
    parser.add_argument("--max-side", type=int, default=960, help="detection max side; 0 never shrinks")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    images = sample_images()
    started = time.perf_counter()
    pipeline = make_pipeline(
        detector=args.detector, upsample=args.upsample, detection_max_side=args.max_side or None
    )
    print(f"models loaded in {time.perf_counter() - started:.2f} s: {pipeline.models()['detector']}")
    print(f"self-test: {pipeline.self_test()}")
    pipeline.analyze(images[0][1])  # warm-up: first-call allocations, per-thread detector copy

    data = [d for _, d in images]
    full = run_inprocess(pipeline, data, rounds=args.rounds, threads=args.threads)
    detect_only = run_inprocess(pipeline, data, rounds=args.rounds, threads=args.threads, embed=False)
    print(f"{len(images)} sample photos x {args.rounds} rounds, {args.threads} thread(s)")
    print(f"  detect+embed  {full.summary()}")
    print(f"  detect only   {detect_only.summary()}")
    if full.faces:
        per_face = (sum(full.seconds) - sum(detect_only.seconds)) / full.faces * 1000
        print(f"  embedding     ~{per_face:.0f} ms per face (detect+embed minus detect only)")
    print("per image (median of rounds, detect+embed):")
    for index, (name, _) in enumerate(images):
        times = sorted(full.seconds[index :: len(images)])
        print(f"  {name:26s} {times[len(times) // 2] * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
