"""How much faster N processes can be than one on this machine: the ceiling of a
parallel speedup.

A virtual machine's two "cores" may share a physical core, a memory bus or a host that
runs other guests, so two independent processes need not run at twice one's speed. This
times a fixed CPU-bound job (deflating a buffer of image-like bytes, what HDF5's gzip
filter and PNG encoding do, and a numpy sort) in one process alone, then in N processes
at once, in turns; the ceiling is ``N × alone / together``. A parallel figure (write-shards
with N workers against one, ``benchmarks/chain.py``) is read against it.

That job's data fits in a core's own cache. ``--job memory`` times one that streams a 64 MB
buffer into another (twice this machine's shared 32 MB L3): the ceiling of work bound by
memory bandwidth, which a frame's write partly is (a frame touches tens of MB).

    python benchmarks/cpu_ceiling.py [--seconds 2] [--turns 3] [--processes 2] [--job memory]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
import zlib
from collections.abc import Callable

import numpy as np


def _cpu_job(rounds: int) -> None:
    """``rounds`` rounds of the fixed job whose data fits in a core's cache."""
    rng = np.random.default_rng(0)
    # image-like bytes: smooth gradients with noise, deflated at HDF5's default level
    ramp = np.add.outer(np.arange(512), np.arange(512)).astype(np.uint8)
    image = (ramp + rng.integers(0, 8, ramp.shape, dtype=np.uint8)).tobytes()
    values = rng.standard_normal(200_000)
    for _ in range(rounds):
        zlib.compress(image, 4)
        np.sort(values)


_BUFFERS: list[np.ndarray] = []  # the memory job's two buffers, made once per process


def _memory_job(rounds: int) -> None:
    """``rounds`` passes over a 64 MB float32 buffer, written into another: memory-bound
    (the buffers are made and faulted in at a process's first call, not timed after)."""
    if not _BUFFERS:
        _BUFFERS.extend([np.ones(16 << 20, np.float32), np.ones(16 << 20, np.float32)])
    source, target = _BUFFERS
    for _ in range(rounds):
        np.multiply(source, 2.0, out=target)


JOBS = {"cpu": _cpu_job, "memory": _memory_job}


def _rounds_for(job: Callable[[int], None], seconds: float) -> int:
    """Rounds of ``job`` that take about ``seconds`` alone."""
    job(1)  # the memory job's buffers
    start = time.perf_counter()
    job(3)
    return max(3, round(3 * seconds / (time.perf_counter() - start)))


def measure(
    seconds: float = 2.0, turns: int = 3, processes: int = 2, job: str = "cpu"
) -> dict[str, float]:
    """The job (:data:`JOBS`) in one process alone and in ``processes`` at once (a warm
    pool of spawned processes, timed from here, in turns): medians, and the ceiling of a
    speedup on that many processes, ``processes × alone / together``."""
    work = JOBS[job]
    ctx = mp.get_context("spawn")
    alone, together = [], []
    with ctx.Pool(processes) as pool:
        pool.map(work, [1] * processes * 4, chunksize=1)  # the workers started and warm
        # calibrated in a worker: the memory job's buffers stay out of the caller's memory
        rounds = pool.apply(_rounds_for, (work, seconds))
        for _ in range(turns):
            start = time.perf_counter()
            pool.apply(work, (rounds,))
            alone.append(time.perf_counter() - start)
            start = time.perf_counter()
            pool.map(work, [rounds] * processes, chunksize=1)
            together.append(time.perf_counter() - start)
    a, t = statistics.median(alone), statistics.median(together)
    return {
        "processes": processes,
        "job_seconds_alone": round(a, 3),
        "job_seconds_together": round(t, 3),
        "ceiling": round(processes * a / t, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one job")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--job", choices=sorted(JOBS), default="cpu")
    args = parser.parse_args()
    m = measure(args.seconds, args.turns, args.processes, args.job)
    print(
        f"job alone {m['job_seconds_alone']} s, {m['processes']} at once "
        f"{m['job_seconds_together']} s: {m['processes']} processes at most {m['ceiling']}x one"
    )


if __name__ == "__main__":
    main()
