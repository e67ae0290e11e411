"""The local executor's workers share the cores out: each caps its native thread pools
(OpenCV's, OpenMP's) at ``cores // workers``, so N workers on N cores do not run 2N threads
against each other (docs/throughput.md, write-shards in parallel)."""

from __future__ import annotations

import os

import pytest

from hpt_data.executors import LocalExecutor
from hpt_data.executors.local import threads_per_worker


def _threads_seen(_: int) -> tuple[int, str | None]:
    import cv2

    return cv2.getNumThreads(), os.environ.get("OMP_NUM_THREADS")


@pytest.mark.parametrize(("cores", "workers", "threads"), [(2, 2, 1), (16, 4, 4), (2, 3, 1)])
def test_threads_per_worker_shares_the_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert threads_per_worker(workers) == threads


def test_pool_workers_run_with_their_share_of_the_threads() -> None:
    import cv2

    before = cv2.getNumThreads()
    share = threads_per_worker(2)
    with LocalExecutor(workers=2) as ex:
        seen = [result for _, result in ex.imap_unordered(_threads_seen, [0, 1, 2, 3])]
    assert seen == [(share, str(share))] * 4
    assert cv2.getNumThreads() == before  # the driver's own pool is left alone
