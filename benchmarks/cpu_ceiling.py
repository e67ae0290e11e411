"""How much faster N processes can be than one on this machine: the ceiling of a
parallel speedup.

A virtual machine's two "cores" may share a physical core, a memory bus or a host that
runs other guests, so two independent processes need not run at twice one's speed. This
times a fixed CPU-bound job (deflating a buffer of image-like bytes, what HDF5's gzip
filter and PNG encoding do, and a numpy sort) in one process alone, then in N processes
at once, in turns; the ceiling is ``N × alone / together``. A parallel figure (write-shards
with N workers against one, ``benchmarks/chain.py``) is read against it.

    python benchmarks/cpu_ceiling.py [--seconds 2] [--turns 3] [--processes 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
import zlib

import numpy as np


def _job(rounds: int) -> None:
    """``rounds`` rounds of the fixed job."""
    rng = np.random.default_rng(0)
    # image-like bytes: smooth gradients with noise, deflated at HDF5's default level
    ramp = np.add.outer(np.arange(512), np.arange(512)).astype(np.uint8)
    image = (ramp + rng.integers(0, 8, ramp.shape, dtype=np.uint8)).tobytes()
    values = rng.standard_normal(200_000)
    for _ in range(rounds):
        zlib.compress(image, 4)
        np.sort(values)


def _rounds_for(seconds: float) -> int:
    """Rounds of the job that take about ``seconds`` alone."""
    start = time.perf_counter()
    _job(3)
    return max(3, round(3 * seconds / (time.perf_counter() - start)))


def measure(seconds: float = 2.0, turns: int = 3, processes: int = 2) -> dict[str, float]:
    """The job in one process alone and in ``processes`` at once (a warm pool of spawned
    processes, timed from here, in turns): medians, and the ceiling of a speedup on that
    many processes, ``processes × alone / together``."""
    rounds = _rounds_for(seconds)
    ctx = mp.get_context("spawn")
    alone, together = [], []
    with ctx.Pool(processes) as pool:
        pool.map(_job, [1] * processes * 4, chunksize=1)  # the workers started and warm
        for _ in range(turns):
            start = time.perf_counter()
            pool.apply(_job, (rounds,))
            alone.append(time.perf_counter() - start)
            start = time.perf_counter()
            pool.map(_job, [rounds] * processes, chunksize=1)
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
    args = parser.parse_args()
    m = measure(args.seconds, args.turns, args.processes)
    print(
        f"job alone {m['job_seconds_alone']} s, {m['processes']} at once "
        f"{m['job_seconds_together']} s: {m['processes']} processes at most {m['ceiling']}x one"
    )


if __name__ == "__main__":
    main()
