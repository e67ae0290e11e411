"""How much faster two processes can be than one on this machine: the ceiling of a
parallel speedup.

A virtual machine's two "cores" may share a physical core, a memory bus or a host that
runs other guests, so two independent processes need not run at twice one's speed. This
times a fixed CPU-bound job (deflating a buffer of image-like bytes, what HDF5's gzip
filter and PNG encoding do, and a numpy sort) in one process alone, then in two processes
at once, in turns; the ceiling is ``2 × alone / together``. A parallel figure (write-shards
with two workers against one) is read against it: ``speedup / ceiling`` is the share of
what the machine allows that the code reaches.

    python benchmarks/cpu_ceiling.py [--seconds 2] [--turns 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
import zlib

import numpy as np


def _job(rounds: int) -> float:
    """Seconds of wall time for ``rounds`` rounds of the fixed job, in this process."""
    rng = np.random.default_rng(0)
    # image-like bytes: smooth gradients with noise, deflated at HDF5's default level
    ramp = np.add.outer(np.arange(512), np.arange(512)).astype(np.uint8)
    image = (ramp + rng.integers(0, 8, ramp.shape, dtype=np.uint8)).tobytes()
    values = rng.standard_normal(200_000)
    start = time.perf_counter()
    for _ in range(rounds):
        zlib.compress(image, 4)
        np.sort(values)
    return time.perf_counter() - start


def _rounds_for(seconds: float) -> int:
    """Rounds of the job that take about ``seconds`` alone."""
    one = _job(3) / 3
    return max(3, round(seconds / one))


def measure(seconds: float = 2.0, turns: int = 3) -> dict[str, float]:
    """The job alone and two copies at once (spawned processes, in turns): medians and
    the ceiling of a two-process speedup."""
    rounds = _rounds_for(seconds)
    ctx = mp.get_context("spawn")
    alone, together = [], []
    with ctx.Pool(2) as pool:
        pool.map(_job, [1, 1])  # both workers started and warm
        for _ in range(turns):
            alone.append(pool.apply(_job, (rounds,)))
            together.append(max(pool.map(_job, [rounds, rounds], chunksize=1)))
    a, t = statistics.median(alone), statistics.median(together)
    return {
        "job_seconds_alone": round(a, 3),
        "job_seconds_two_at_once": round(t, 3),
        "ceiling_two_processes": round(2 * a / t, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one job")
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    m = measure(args.seconds, args.turns)
    print(
        f"job alone {m['job_seconds_alone']} s, two at once {m['job_seconds_two_at_once']} s: "
        f"two processes at most {m['ceiling_two_processes']}x one"
    )


if __name__ == "__main__":
    main()
