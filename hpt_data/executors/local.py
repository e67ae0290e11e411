"""The local executor: a pool of worker processes on this machine.

Workers start with ``spawn`` (not ``fork``): torch, MediaPipe and EGL keep threads and
driver state that a forked child must not inherit. With one worker the tasks run in this
process, which is what tests and debuggers want.

Each worker's native thread pools (OpenCV's, OpenMP's for torch) get ``cores // workers``
threads (``limit_threads``; a user's lower setting stays), so N workers on N cores do not
oversubscribe them: left alone, one process's OpenCV spreads over every core, and two
such workers on 2 cores slow each other down (``benchmarks/chain.py``'s write-shards
figures, docs/throughput.md). Ray caps OpenMP for its tasks the same way.

If a worker dies, Python's pool breaks and every task in flight fails with it; the
executor starts a new pool and resubmits those tasks. A task that was in flight during
more than ``retries`` breakages is reported as ``WorkerLost``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from hpt_data.executors.base import Executor, WorkerLost, limit_threads, usable_cores

T = TypeVar("T")
R = TypeVar("R")


def threads_per_worker(workers: int) -> int:
    """Native threads each of ``workers`` processes may use: the cores shared out."""
    return max(1, usable_cores() // max(1, workers))


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int = 1, retries: int = 2) -> None:
        super().__init__(workers, retries)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=limit_threads,
                initargs=(threads_per_worker(self.workers),),
            )
        return self._pool

    def _drop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def imap_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T], step: str = ""
    ) -> Iterator[tuple[T, R | WorkerLost]]:
        if self.workers == 1:
            for task in tasks:
                yield task, fn(task)
            return

        breaks = [0] * len(tasks)
        pending_idx = list(range(len(tasks)))
        while pending_idx:
            pool = self._get_pool()
            futures: dict[Future, int] = {pool.submit(fn, tasks[i]): i for i in pending_idx}
            pending_idx = []
            not_done = set(futures)
            broken = False
            while not_done:
                done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        breaks[i] += 1
                        if breaks[i] > self.retries:
                            yield (
                                tasks[i],
                                WorkerLost(
                                    f"worker process died {breaks[i]} time(s) while this task ran "
                                    "(killed, or out of memory)"
                                ),
                            )
                        else:
                            pending_idx.append(i)
                        continue
                    except Exception as exc:  # e.g. a result that cannot be pickled
                        yield tasks[i], WorkerLost(f"task failed outside its error handling: {exc}")
                        continue
                    yield tasks[i], result
            if broken:
                self._drop_pool()
